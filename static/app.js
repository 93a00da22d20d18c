// Progressive enhancement only: every page works without this file.
// Connect forms: the pressed button says "Connecting Spotify…", and no connect button sends a second form
// while the browser is on its way to MusicAPI (a second login would only cancel the first).
(function () {
  'use strict';

  var BUSY_LABEL = 'Connecting…';  // pages say more with data-busy-label on the form
  // If the person stops the page loading, the buttons come back after a while.
  var GIVE_UP_MS = 15000;
  var busy = false;
  var giveUpTimer = null;

  function connectForms() {
    return Array.prototype.slice.call(document.querySelectorAll('form.js-connect'));
  }

  function buttonOf(form) {
    return form.querySelector('button[type="submit"], button:not([type])');
  }

  function labelOf(button) {
    return button.querySelector('.btn-label') || button;
  }

  function markBusy(pressedForm) {
    connectForms().forEach(function (form) {
      var button = buttonOf(form);
      if (!button) {
        return;
      }
      if (form === pressedForm) {
        var label = labelOf(button);
        form.setAttribute('aria-busy', 'true');
        if (label.dataset.idleLabel === undefined) {
          label.dataset.idleLabel = label.textContent;
        }
        label.textContent = form.dataset.busyLabel || BUSY_LABEL;
      }
      button.disabled = true;
    });
  }

  function restore() {
    busy = false;
    window.clearTimeout(giveUpTimer);
    connectForms().forEach(function (form) {
      var button = buttonOf(form);
      form.removeAttribute('aria-busy');
      if (!button) {
        return;
      }
      var label = labelOf(button);
      if (label.dataset.idleLabel !== undefined) {
        label.textContent = label.dataset.idleLabel;
        delete label.dataset.idleLabel;
      }
      button.disabled = false;
    });
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('js-connect')) {
      return;
    }
    if (busy) {
      event.preventDefault();
      return;
    }
    busy = true;
    // Disable after the submission has been queued, so the browser still sends the pressed form.
    window.setTimeout(function () {
      markBusy(form);
    }, 0);
    giveUpTimer = window.setTimeout(restore, GIVE_UP_MS);
  });

  // Back from MusicAPI: the page may come back from the back-forward cache still "Connecting…".
  window.addEventListener('pageshow', function (event) {
    if (event.persisted) {
      restore();
    }
  });
})();

// A profile picture that cannot load (a dead link, a blocked host) shows the service's badge
// instead of the browser's broken-image icon.
(function () {
  'use strict';

  function showBadgeInstead(photo) {
    var badge = photo.parentElement && photo.parentElement.querySelector('.avatar-badge');
    var badgeImage = badge && badge.querySelector('img');
    if (!badgeImage) {
      return;
    }
    photo.src = badgeImage.src;
    badge.hidden = true;
  }

  Array.prototype.forEach.call(document.querySelectorAll('img.avatar-photo'), function (photo) {
    if (photo.complete && photo.naturalWidth === 0) {
      showBadgeInstead(photo);
    } else {
      photo.addEventListener('error', function () { showBadgeInstead(photo); }, { once: true });
    }
  });
})();

// A login popup's own pages offer to close the window (only a window a script opened may be closed).
(function () {
  'use strict';

  Array.prototype.forEach.call(document.querySelectorAll('.js-close'), function (button) {
    button.hidden = false;
    button.addEventListener('click', function () { window.close(); });
  });
})();
