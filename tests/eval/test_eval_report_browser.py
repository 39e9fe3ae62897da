"""The report in real headless Chromium: every figure loads and is drawn, nothing spills
sideways, and a full-page screenshot shows the charts (issue 15.7). Drives the Debian
chromium the annotation test uses (scripts/install_browser.sh)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from persuasion_rl.cli import main

from .test_eval_report import add_failures

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("needs Debian's chromium and chromium-driver (scripts/install_browser.sh installs them)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900"]


def screenshot(html: Path, png: Path, profile: Path) -> dict:
    """Open the page, return what JavaScript sees, and save a full-page screenshot."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(html.resolve().as_uri())
        facts = driver.execute_script("""
            const imgs = Array.from(document.images);
            const chart = imgs[0].getBoundingClientRect();
            return {images: imgs.map(i => [i.complete, i.naturalWidth, Math.round(i.getBoundingClientRect().width)]),
                    overflow: document.documentElement.scrollWidth - window.innerWidth,
                    chart: [chart.left + window.scrollX, chart.top + window.scrollY, chart.width, chart.height],
                    text: document.body.innerText};""")
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "format": "png"})
        png.write_bytes(base64.b64decode(data["data"]))
        return facts
    finally:
        driver.quit()


def test_report_renders_in_chromium(eval_copy: Path, tmp_path: Path) -> None:
    add_failures(eval_copy)
    assert main(["report", str(eval_copy), "--bootstrap", "200"]) == 0
    shot = Path(os.environ.get("PERSUASION_RL_SCREENSHOT_DIR", tmp_path)) / "report.png"
    facts = screenshot(eval_copy / "report.html", shot, tmp_path / "profile")
    assert len(facts["images"]) == 2 and all(done and natural > 300 and shown > 300 for done, natural, shown in facts["images"])
    assert facts["overflow"] <= 1, "the page scrolls sideways"
    for heading in ("Persuasion gains with 95% CIs", "Per-round gains", "Failures by kind", "Example transcripts"):
        assert heading in facts["text"]
    assert "static:  vs" not in facts["text"]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[0] > 1500  # the whole page, not the viewport
    inked = (pixels < 0.9).any(axis=2).mean()
    assert 0.01 < inked < 0.6, f"{inked:.3f} of the page is inked: blank or broken"
    left, top, width, height = (int(v) for v in facts["chart"])
    chart = pixels[top:top + height, left:left + width]
    colourful = (chart.max(axis=2) - chart.min(axis=2) > 0.25).mean()
    assert colourful > 0.0005, "the gains chart shows no coloured markers"
    assert np.isfinite(pixels).all()
