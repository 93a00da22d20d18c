// Same-origin example: read /api/session and show what a page on this site can use.
// Builds the DOM with textContent only: every field comes from outside and is untrusted.
(function () {
  'use strict';

  var ENDPOINT = '/api/session';
  var TICK_MS = 30000;
  var output = document.getElementById('session-demo');
  var refreshButton = document.getElementById('session-refresh');
  if (!output) {
    return;
  }
  var accounts = [];
  var countdowns = [];

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function show(message, className) {
    countdowns = [];
    output.replaceChildren(element('p', className || 'muted', message));
  }

  function tokenPreview(authData) {
    var token = authData && typeof authData.accessToken === 'string' ? authData.accessToken : '';
    return token ? 'Token present: ' + token.slice(0, 6) + '…' : 'No token';
  }

  // Same wording as the start page: whole minutes left, rounded down.
  function timeLeft(expiresAt) {
    if (typeof expiresAt !== 'number') {
      return 'No expiry given';
    }
    var minutes = Math.floor((expiresAt - Date.now()) / 60000);
    if (minutes < 0) {
      return 'Token expired';
    }
    if (minutes < 120) {
      return 'Token expires in ' + minutes + ' min';
    }
    var hours = Math.floor(minutes / 60);
    if (hours < 48) {
      return 'Token expires in ' + hours + ' h';
    }
    return 'Token expires in ' + Math.floor(hours / 24) + ' days';
  }

  function updateCountdowns() {
    countdowns.forEach(function (entry) {
      entry.node.textContent = timeLeft(entry.expiresAt);
    });
  }

  function render() {
    var list = element('ul', 'demo-list');
    countdowns = [];
    accounts.forEach(function (account) {
      var item = element('li', 'demo-item');
      item.append(
        element('p', 'demo-service', String(account.service || 'unknown service')),
        element('p', 'demo-name', account.name ? String(account.name) : 'No name given'),
        element('p', 'demo-token', tokenPreview(account.authData))
      );
      var expiry = element('p', 'demo-expiry', timeLeft(account.expiresAt));
      countdowns.push({node: expiry, expiresAt: account.expiresAt});
      item.append(expiry);
      list.append(item);
    });
    output.replaceChildren(list);
  }

  function load() {
    if (refreshButton) {
      refreshButton.disabled = true;
    }
    fetch(ENDPOINT, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
      .then(function (response) {
        if (response.status === 401) {
          accounts = [];
          show('Nothing connected. Connect a service on the start page, then check again.');
          return;
        }
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.json().then(function (body) {
          accounts = body && Array.isArray(body.accounts) ? body.accounts : [];
          if (accounts.length === 0) {
            show('Nothing connected.');
          } else {
            render();
          }
        });
      })
      .catch(function () {
        show('Could not reach /api/session. Check your connection and try again.', 'demo-error');
      })
      .finally(function () {
        if (refreshButton) {
          refreshButton.hidden = false;
          refreshButton.disabled = false;
        }
      });
  }

  if (refreshButton) {
    refreshButton.addEventListener('click', load);
  }
  window.setInterval(updateCountdowns, TICK_MS);
  load();
})();
