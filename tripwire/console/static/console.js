// Tripwire console: the only script. A slider shows its value while moving and reloads the page when released.
"use strict";
document.querySelectorAll(".autosubmit").forEach(function (control) {
  control.addEventListener("change", function () { control.form.submit(); });
});
[["threshold", "threshold-value"], ["min-score", "min-score-value"]].forEach(function (ids) {
  var slider = document.getElementById(ids[0]);
  var shown = document.getElementById(ids[1]);
  if (slider && shown) {
    slider.addEventListener("input", function () { shown.textContent = Number(slider.value).toFixed(2); });
  }
});
// The threshold line on the Tune histogram follows the slider before the page reloads.
(function () {
  var slider = document.getElementById("threshold");
  var line = document.getElementById("threshold-line");
  if (!slider || !line) { return; }
  var left = Number(line.getAttribute("data-left"));
  var width = Number(line.getAttribute("data-width"));
  slider.addEventListener("input", function () {
    var x = (left + width * Number(slider.value)).toFixed(1);
    line.setAttribute("x1", x);
    line.setAttribute("x2", x);
  });
}());
// Exact times in the viewer's own zone on hover: the server wrote "12 min ago" and the instant in datetime="".
document.querySelectorAll("time[datetime]").forEach(function (element) {
  var at = new Date(element.getAttribute("datetime"));
  if (!isNaN(at.getTime())) {
    element.title = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
  }
});
