/*
 * connect.js: use callback_app from your own site's pages (README: "Use it from your own site").
 *
 *   <script src="https://connect.example.com/connect.js"></script>
 *   CallbackApp.connect('spotify');                 // leaves for the login, comes back to this page
 *   CallbackApp.connect('spotify', {popup: true});  // a Promise of the new account
 *   CallbackApp.session();                          // a Promise of {accounts: [...]}
 *   CallbackApp.disconnect('spotify'); CallbackApp.logout();
 *
 * No dependencies. Types: connect.d.ts next to this file.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  var APP = new URL(script && script.src ? script.src : window.location.href).origin;
  var POPUP_NAME = 'callback_app_login';
  var POPUP_FEATURES = 'popup,width=520,height=720';
  var POLL_MS = 600;
  // A login flow lives 10 minutes on the server; a popup still open after that has nothing to wait for.
  var POPUP_LIMIT_MS = 10 * 60 * 1000;

  function CallbackAppError(code, message) {
    var error = new Error(message || code);
    error.name = 'CallbackAppError';
    error.code = code;
    return error;
  }

  function call(method, path) {
    return fetch(APP + path, {
      method: method,
      credentials: 'include',
      cache: 'no-store',
      headers: {Accept: 'application/json'}
    }).catch(function () {
      throw CallbackAppError('network_error', 'The app at ' + APP + ' could not be reached');
    });
  }

  function failure(response) {
    return response.json().then(
      function (body) { return CallbackAppError(body && body.error ? String(body.error) : 'http_' + response.status); },
      function () { return CallbackAppError('http_' + response.status); }
    ).then(function (error) { throw error; });
  }

  function session() {
    return call('GET', '/api/session').then(function (response) {
      if (response.status === 401) {
        return {accounts: []};
      }
      return response.ok ? response.json() : failure(response);
    });
  }

  function change(path) {
    return call('POST', path).then(function (response) {
      return response.ok ? undefined : failure(response);
    });
  }

  function disconnect(service) {
    return change('/disconnect/' + encodeURIComponent(service));
  }

  function logout() {
    return change('/logout');
  }

  // A form post, not a fetch: the browser itself navigates (this page or the popup) to MusicAPI.
  // Its Origin header is this page's origin, which the app trusts instead of a CSRF token.
  function post(target, path, fields) {
    var form = document.createElement('form');
    form.method = 'post';
    form.action = APP + path;
    form.target = target;
    form.hidden = true;
    Object.keys(fields).forEach(function (name) {
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = fields[name];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
    form.remove();
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (byte) { return ('0' + byte.toString(16)).slice(-2); }).join('');
  }

  function attemptStatus(attempt) {
    return call('GET', '/api/attempts/' + attempt).then(function (response) {
      if (response.status === 404) {
        return {status: 'pending'};  // the popup has not reached the app yet
      }
      return response.ok ? response.json() : failure(response);
    });
  }

  // Watch a popup login through the app, not through window.opener: the login passes pages that
  // may cut the popup off from this one. The app's last popup page closes itself.
  function watch(popup, attempt) {
    var started = Date.now();
    return new Promise(function (resolve, reject) {
      function settle(status) {
        if (status.status === 'connected') {
          return session().then(function (current) {
            var account = current.accounts.filter(function (item) { return item.service === status.service; })[0];
            return account ? resolve(account) : reject(CallbackAppError('not_connected'));
          });
        }
        if (!popup.closed) {
          popup.close();
        }
        return reject(CallbackAppError(status.reason || 'login_failed'));
      }

      function tick() {
        var closed = popup.closed;
        attemptStatus(attempt).then(function (status) {
          if (status.status !== 'pending') {
            return settle(status);
          }
          if (closed) {
            return reject(CallbackAppError('popup_closed', 'The login window was closed'));
          }
          if (Date.now() - started > POPUP_LIMIT_MS) {
            popup.close();
            return reject(CallbackAppError('timeout', 'The login took too long'));
          }
          window.setTimeout(tick, POLL_MS);
        }, reject).catch(reject);
      }

      window.setTimeout(tick, POLL_MS);
    });
  }

  function connect(service, options) {
    if (service !== null && typeof service === 'object') {
      options = service;
      service = undefined;
    }
    options = options || {};
    var path = service ? '/connect/' + encodeURIComponent(service) : '/connect';
    if (options.popup) {
      var popup = window.open('', POPUP_NAME, POPUP_FEATURES);
      if (popup) {
        var attempt = randomId();
        post(POPUP_NAME, path, {mode: 'popup', attempt: attempt});
        return watch(popup, attempt);
      }
      // Popups blocked: the same login, in this window.
    }
    post('_self', path, {next: options.next || window.location.href});
    // This page is leaving for the login: the promise has nothing left to say.
    return new Promise(function () {});
  }

  window.CallbackApp = Object.freeze({
    origin: APP,
    connect: connect,
    session: session,
    disconnect: disconnect,
    logout: logout
  });
})();
