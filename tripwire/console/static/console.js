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
