"""Run a small real sweep, open TensorBoard's HParams tab in headless Chromium, screenshot it.

    pip install -e '.[docs]' && apt-get install chromium   # Debian's browser, no download
    python docs/hparams_screenshot.py                      # writes docs/hparams_tab.png

Exits 1 if the HParams table shows no runs. ``--logdir DIR`` screenshots an existing
sweep directory instead of running one.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_sweep(logdir: str) -> str:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tfhparam.sweep",
            "--strategy",
            "random",
            "--trials",
            "6",
            "--seeds",
            "2",
            "--total-timesteps",
            "30000",
            "--name",
            "screenshot",
            "--logdir",
            logdir,
            "--overwrite",
            "--quiet",
        ],
        check=True,
    )
    return os.path.join(logdir, "screenshot")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", help="an existing sweep directory (default: run one)")
    parser.add_argument("--out", default=os.path.join(HERE, "hparams_tab.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sweep_dir = args.logdir or run_sweep(tmp)
        port = free_port()
        tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        server = subprocess.Popen(
            [tensorboard, "--logdir", sweep_dir, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                deadline = time.time() + 120
                while True:  # TensorBoard needs a moment to start and load the runs
                    cells = page.get_by_text("CartPole-v1", exact=True)
                    try:
                        page.goto(f"http://127.0.0.1:{port}/#hparams")
                        cells.first.wait_for(timeout=15_000)
                        break
                    except Exception:
                        time.sleep(1)
                        if time.time() > deadline:
                            print("the HParams table shows no runs", file=sys.stderr)
                            return 1
                page.wait_for_timeout(2000)
                rows = cells.count()
                page.screenshot(path=args.out, full_page=False)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{args.out}: HParams table with {rows} cells naming the env")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
