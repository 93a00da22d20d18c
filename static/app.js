// Progressive enhancement only: every page works without this file.
// Connect forms: show "Connecting…" and block a second submit while the browser leaves for MusicAPI.
(function () {
  'use strict';

  var BUSY_LABEL = 'Connecting…';

  function buttonOf(form) {
    return form.querySelector('button[type="submit"], button:not([type])');
  }

  function labelOf(button) {
    return button.querySelector('.btn-label') || button;
  }

  function markBusy(form) {
    var button = buttonOf(form);
    form.setAttribute('aria-busy', 'true');
    form.dataset.busy = '1';
    if (!button) {
      return;
    }
    var label = labelOf(button);
    if (label.dataset.idleLabel === undefined) {
      label.dataset.idleLabel = label.textContent;
    }
    label.textContent = BUSY_LABEL;
    button.disabled = true;
  }

  function restore(form) {
    var button = buttonOf(form);
    form.removeAttribute('aria-busy');
    delete form.dataset.busy;
    if (!button) {
      return;
    }
    var label = labelOf(button);
    if (label.dataset.idleLabel !== undefined) {
      label.textContent = label.dataset.idleLabel;
      delete label.dataset.idleLabel;
    }
    button.disabled = false;
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('js-connect')) {
      return;
    }
    if (form.dataset.busy) {
      event.preventDefault();
      return;
    }
    // Disable after the submission has been queued, so the browser still sends the form.
    window.setTimeout(function () {
      markBusy(form);
    }, 0);
    form.dataset.busy = '1';
  });

  // Back button from MusicAPI: the page may come back from the bfcache still "Connecting…".
  window.addEventListener('pageshow', function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll('form.js-connect').forEach(restore);
  });
})();
