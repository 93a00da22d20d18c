// The last page of a popup login: the page that opened the popup learns the outcome from the app,
// so this window only has to close itself (browsers let a script close a window a script opened).
(function () {
  'use strict';
  window.close();
})();
