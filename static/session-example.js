// The developers' page demo: read /api/session and show what a page can use, never a token itself.
// Builds the DOM with textContent only: every field comes from outside and is untrusted. The words
// come from the page (data- attributes), which takes them from the message catalogs.
(function () {
  'use strict';

  var output = document.getElementById('session-demo');
  var refreshButton = document.getElementById('session-refresh');
  if (!output) {
    return;
  }
  var words = output.dataset;
  var language = document.documentElement.lang;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    node.className = className;
    node.textContent = text;
    return node;
  }

  function show(message, className) {
    output.replaceChildren(element('p', className || 'muted', message));
  }

  function tokenLength(authData) {
    var token = authData && typeof authData.accessToken === 'string' ? authData.accessToken : '';
    return token ? words.token.replace('%(count)s', String(token.length)) : words.noToken;
  }

  function expiry(account) {
    if (typeof account.expiresAt !== 'number') {
      return words.noExpiry;
    }
    if (account.expired) {
      return words.expired;
    }
    var time = new Date(account.expiresAt).toLocaleTimeString(language, {hour: '2-digit', minute: '2-digit'});
    return words.expires.replace('%(time)s', time);
  }

  function render(accounts) {
    var list = document.createElement('ul');
    list.className = 'demo-list';
    accounts.forEach(function (account) {
      var item = document.createElement('li');
      item.className = 'demo-item';
      item.append(
        element('p', 'demo-service', String(account.service)),
        element('p', 'demo-name', account.name ? String(account.name) : words.noName),
        element('p', 'demo-token', tokenLength(account.authData)),
        element('p', 'demo-expiry', expiry(account))
      );
      list.append(item);
    });
    output.replaceChildren(list);
  }

  function load() {
    refreshButton.disabled = true;
    fetch('/api/session', {credentials: 'same-origin', headers: {Accept: 'application/json'}})
      .then(function (response) {
        if (response.status === 401) {
          return show(words.nothing);
        }
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.json().then(function (body) { render(body.accounts); });
      })
      .catch(function () { show(words.failed, 'demo-error'); })
      .finally(function () {
        refreshButton.hidden = false;
        refreshButton.disabled = false;
      });
  }

  refreshButton.addEventListener('click', load);
  load();
})();
