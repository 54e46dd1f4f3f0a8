// The navigation folds into a Menu button on narrow screens. Without this script the
// navigation simply stays open; the CSP allows scripts from this origin only.
(function () {
  var button = document.getElementById("menu-button");
  var nav = document.getElementById("main-nav");
  if (!button || !nav) return;
  document.documentElement.classList.add("has-menu-script");
  button.hidden = false;
  button.addEventListener("click", function () {
    var open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", String(!open));
    nav.classList.toggle("open", !open);
  });
})();
