// The guard dashboard's chart: sign-ins, downloads and alerts per day, drawn by the Chart.js that the
// application serves itself. The numbers come from the canvas's data-chart attribute.
(function () {
  "use strict";
  var canvas = document.getElementById("guard-chart");
  if (!canvas || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(canvas.getAttribute("data-chart"));
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: data.names.sign_ins, data: data.sign_ins },
        { label: data.names.downloads, data: data.downloads },
        { label: data.names.alerts, data: data.alerts }
      ]
    },
    options: {
      animation: false,
      responsive: true,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
    }
  });
})();
