// Tripwire console: the only script. The slider shows its value while moving and reloads the page when released.
"use strict";
document.querySelectorAll(".autosubmit").forEach(function (control) {
  control.addEventListener("change", function () { control.form.submit(); });
});
var slider = document.getElementById("threshold");
var shown = document.getElementById("threshold-value");
if (slider && shown) {
  slider.addEventListener("input", function () { shown.textContent = Number(slider.value).toFixed(2); });
}
