"""callback_app: connect a user's music streaming account through MusicAPI.

The app is built by ``callback_app.app.create_app``; gunicorn serves ``callback_app.wsgi:app``.
"""
