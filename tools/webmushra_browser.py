"""Answer webMUSHRA listening tests in headless Chromium as a listener would (run by
tools/webmushra_roundtrip.py in its own venv: needs only selenium and the standard library).

Input (JSON file, argv[1]): {"base": "http://127.0.0.1:<port>", "chromium": path, "chromedriver": path,
"listener_field": "email", "sessions": [{"test_id", "listener", "answers": {stimulus key: response value},
"lss": path of the results/<testId>/lss.csv the server appends to}]}.
Output (JSON, argv[2]): per session the pages met, in order, with the answer clicked.

Per page it does what a listener does: on an answer page it checks the answers and the Next
button are locked, presses Play, waits for playback to end (the answers unlock), clicks the
label of the planned answer, then Next; on the finish page it types the listener id and presses
Send, then waits until the server has appended the session to lss.csv. Every wait is bounded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WAIT_S = 30.0  # longest wait for one step (page render, playback, upload)
POLL_S = 0.05


def wait_for(what: str, fn, timeout: float = WAIT_S):
    """fn() until truthy, at most `timeout` seconds; raises naming `what`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(POLL_S)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def current(driver) -> dict | None:
    """The current page as webMUSHRA's page manager sees it (type, id, stimulus key)."""
    return driver.execute_script("""
        if (typeof pageManager === 'undefined' || pageManager === null || pageManager.getNumPages() === 0) return null;
        var p = pageManager.getCurrentPage(); if (!p) return null;
        var cfg = p.pageConfig || {};
        return {index: pageManager.getPageIndex(), n: pageManager.getNumPages(), type: cfg.type || null,
                id: cfg.id || null, stimulus: p.stimulus ? p.stimulus.getId() : null};""")


def enabled(driver, css: str) -> bool:
    els = driver.find_elements(By.CSS_SELECTOR, css)
    return bool(els) and all(e.is_enabled() for e in els)


def lss_rows(path: Path) -> int:
    return max(len(path.read_text(encoding="utf-8").splitlines()) - 1, 0) if path.is_file() else 0


def answer_session(driver, base: str, field: str, session: dict) -> list[dict]:
    driver.get(f"{base}/?config={session['test_id']}.yaml")
    lss = Path(session["lss"])
    before = lss_rows(lss)
    met: list[dict] = []
    first = wait_for(
        "webMUSHRA to build its pages (a config it cannot read stays on 'Loading...')", lambda: current(driver)
    )
    for _ in range(first["n"] + 1):  # every page once, no more
        page = wait_for("the page to render", lambda: current(driver))
        if page["type"] == "finish":
            box = wait_for(f"the listener id field #{field}", lambda: driver.find_elements(By.ID, field))[0]
            shown = driver.execute_script("return document.body.innerText")
            box.send_keys(session["listener"])
            wait_for("the send button to unlock", lambda: enabled(driver, "#send_results"))
            driver.find_element(By.ID, "send_results").click()
            wait_for(f"{lss} to grow by this session", lambda: lss_rows(lss) > before)
            errors = driver.execute_script("return document.body.innerText")
            if "error occured" in errors:
                raise RuntimeError(f"webMUSHRA reports an upload error for {session['listener']}: {errors[-300:]}")
            met.append({"type": "finish", "text": shown[:4000]})
            return met
        if page["type"] == "likert_single_stimulus":
            radios = "input[name='1__response']"
            wait_for("the answer buttons", lambda radios=radios: driver.find_elements(By.CSS_SELECTOR, radios))
            locked = not enabled(driver, radios) and not enabled(driver, "#__button_next")
            driver.find_element(By.ID, "playCondition0").click()
            wait_for("playback to end (the answers unlock)", lambda radios=radios: enabled(driver, radios))
            value = session["answers"][page["stimulus"]]
            radio = driver.find_element(By.CSS_SELECTOR, f"{radios}[value='{value}']")
            driver.find_element(By.CSS_SELECTOR, f"label[for='{radio.get_attribute('id')}']").click()
            wait_for("Next to unlock after the answer", lambda: enabled(driver, "#__button_next"))
            met.append(
                {
                    "type": page["type"],
                    "id": page["id"],
                    "stimulus": page["stimulus"],
                    "answer": value,
                    "locked_until_played": locked,
                }
            )
        else:
            text = driver.find_element(By.ID, "page_content").text
            met.append({"type": page["type"], "id": page["id"], "text": text[:2000]})
            wait_for("Next to unlock", lambda: enabled(driver, "#__button_next"))
        driver.find_element(By.ID, "__button_next").click()
        wait_for("the next page", lambda page=page: (current(driver) or {}).get("index") != page["index"])
    raise RuntimeError(f"no finish page after {first['n']} pages")


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    opts = webdriver.ChromeOptions()
    opts.binary_location = spec["chromium"]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        opts.add_argument(arg)
    results = []
    for session in spec["sessions"]:
        driver = webdriver.Chrome(service=Service(spec["chromedriver"]), options=opts)  # a fresh browser each
        try:
            driver.set_page_load_timeout(WAIT_S)
            pages = answer_session(driver, spec["base"], spec["listener_field"], session)
            results.append({"test_id": session["test_id"], "listener": session["listener"], "pages": pages})
            print(
                f"{session['test_id']} {session['listener']}: "
                f"{sum(p['type'] == 'likert_single_stimulus' for p in pages)}"
                " answers sent",
                flush=True,
            )
        except Exception:
            logs = [entry.get("message") for entry in driver.get_log("browser")] if hasattr(driver, "get_log") else []
            print(f"{session['test_id']} {session['listener']} failed; browser console: {logs[-10:]}", file=sys.stderr)
            raise
        finally:
            driver.quit()
    Path(sys.argv[2]).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
