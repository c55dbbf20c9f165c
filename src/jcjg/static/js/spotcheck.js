// The spot-check form (projects/spot_check.html): the phone's position goes with the record.
(function () {
  "use strict";
  function fill() {
    const form = document.querySelector("form[data-spot-check]");
    if (!form) return;
    const status = form.querySelector("[data-locate-status]");
    if (!navigator.geolocation) {
      if (status) status.textContent = "本机无法定位：抽查记录将不含位置";
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => {
        form.latitude.value = p.coords.latitude;
        form.longitude.value = p.coords.longitude;
        if (status) status.textContent = "已定位（精度约 " + Math.round(p.coords.accuracy) + " 米）";
      },
      () => { if (status) status.textContent = "未能定位：请允许浏览器使用位置信息"; },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 });
  }
  document.addEventListener("DOMContentLoaded", fill);
})();
