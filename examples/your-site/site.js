// The example site's own script: what a deployer writes around window.CallbackApp.
(function () {
  'use strict';

  var app = window.CallbackApp;
  var outcome = document.getElementById('outcome');
  var list = document.getElementById('accounts');
  var serviceField = document.getElementById('service');

  function say(text) {
    outcome.textContent = text;
  }

  function item(account) {
    var entry = document.createElement('li');
    var token = account.authData && account.authData.accessToken;
    // textContent only: profile fields come from outside. Show a token's length, never the token.
    entry.textContent = account.service + ': ' + (account.name || 'no name') +
      (token ? ' (access token, ' + token.length + ' characters)' : '') + (account.expired ? ' (expired)' : '');
    var disconnect = document.createElement('button');
    disconnect.type = 'button';
    disconnect.textContent = 'Disconnect';
    disconnect.setAttribute('aria-label', 'Disconnect ' + account.service);
    disconnect.addEventListener('click', function () {
      app.disconnect(account.service).then(function () { say('Disconnected ' + account.service + '.'); show(); }, failed);
    });
    entry.append(' ', disconnect);
    return entry;
  }

  function show() {
    return app.session().then(function (session) {
      list.replaceChildren.apply(list, session.accounts.map(item));
      if (session.accounts.length === 0) {
        var none = document.createElement('li');
        none.textContent = 'Nothing connected yet.';
        list.replaceChildren(none);
      }
    }, failed);
  }

  function failed(error) {
    say('Refused: ' + (error && error.code ? error.code : String(error)));
  }

  document.getElementById('connect-popup').addEventListener('click', function () {
    say('Waiting for the login in the popup…');
    app.connect(serviceField.value || undefined, {popup: true}).then(function (account) {
      say('Connected ' + account.service + (account.name ? ' as ' + account.name : '') + '.');
      show();
    }, failed);
  });
  document.getElementById('connect-redirect').addEventListener('click', function () {
    app.connect(serviceField.value || undefined);
  });
  document.getElementById('refresh').addEventListener('click', show);
  document.getElementById('logout').addEventListener('click', function () {
    app.logout().then(function () { say('Logged out.'); show(); }, failed);
  });
  show();
})();
