// Insights pages: draw each <canvas class="chart" data-chart="{Chart.js configuration}"> with
// the vendored Chart.js. The configurations are plain JSON written by the hub; the figures are
// also in the table under each chart, so the page reads the same without JavaScript.
"use strict";

(function () {
  if (typeof window.Chart === "undefined") {
    return;
  }
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  window.Chart.defaults.color = dark ? "#eceae6" : "#1b1f24";
  window.Chart.defaults.borderColor = dark ? "#313943" : "#dedad2";
  window.Chart.defaults.animation = false;
  window.Chart.defaults.maintainAspectRatio = false;
  window.Chart.defaults.responsive = true;
  for (const canvas of document.querySelectorAll("canvas.chart[data-chart]")) {
    try {
      const config = JSON.parse(canvas.dataset.chart);
      new window.Chart(canvas, config);
      canvas.dataset.rendered = "1";
    } catch (error) {
      canvas.dataset.rendered = "error";
      console.error("chart not drawn:", error);
    }
  }
})();
