// Loaded as a blocking classic script in <head>, before any paint, so a theme the user picked
// (stored by common.js) is applied without a flash of the other one. No stored choice: the CSS
// follows prefers-color-scheme.
(function () {
  try {
    var theme = localStorage.getItem('yallmp-theme');
    if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  } catch (e) {
    // Storage can be disabled (privacy settings); the system preference still applies.
  }
})();
