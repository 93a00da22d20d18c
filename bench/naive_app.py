"""The naive reference: a typical tutorial's MusicAPI callback, for comparison only.

Run the way tutorials say: ``gunicorn -w 2 bench.naive_app:app`` (sync workers). The token
exchange is a plain ``requests.get`` per call, and the tokens go into Flask's session cookie.
"""

import base64
import json
import os
import secrets
from urllib.parse import urlencode

import requests
from flask import Flask, abort, redirect, request, session
from markupsafe import escape

app = Flask(__name__)
app.secret_key = os.environ["SECRET_KEY"]

AUTH_URL = os.environ["MUSICAPI_AUTH_URL"]
API_URL = os.environ["MUSICAPI_API_URL"]
SLUG = os.environ["MUSICAPI_SLUG"]
PUBLIC_URL = os.environ["PUBLIC_URL"]


@app.route("/")
def index():
    user = session.get("user")
    if user:
        return f"<p>Connected as {escape(user.get('name'))}</p>"
    return '<a href="/connect/spotify">Connect Spotify</a>'


@app.route("/connect/<service>")
def connect(service):
    state = secrets.token_urlsafe(16)
    session["state"] = state
    return_url = f"{PUBLIC_URL}/callback?state={state}"
    query = urlencode({"returnUrl": return_url, "requestOneTimeToken": "true"})
    return redirect(f"{AUTH_URL}/{SLUG}/{service}/auth?{query}")


@app.route("/callback")
def callback():
    if request.args.get("state") != session.pop("state", None):
        abort(400)
    data = json.loads(base64.b64decode(request.args["data64"]))
    response = requests.get(
        f"{API_URL}/public/integrations/user/{data['integrationUserUUID']}",
        headers={"Authorization": f"Token {data['oneTimeToken']}", "Content-Type": "application/json"},
    )
    if response.status_code != 200:
        return "Login failed, please try again", 502
    session["user"] = response.json()["integrationUser"]
    return redirect("/")
