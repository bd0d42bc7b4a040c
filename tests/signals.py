"""Send real signals to a running ``poissonfp`` command (the console script beside this interpreter)."""
import signal
import subprocess
import sys
import time
from pathlib import Path


def signal_command(args: list[str], marker: str, signals: tuple[str, ...], wait: float) -> tuple[int, str]:
    """Run ``poissonfp ARGS``; once ``marker`` appears on stderr, wait ``wait`` s, then send ``signals`` (names,
    50 ms apart). Returns the exit code and the rest of stderr."""
    command = Path(sys.executable).with_name("poissonfp")
    process = subprocess.Popen([str(command), *args], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    seen = ""
    while marker not in seen:
        char = process.stderr.read(1)
        assert char, seen
        seen += char
    time.sleep(wait)
    for name in signals:
        process.send_signal(getattr(signal, name))
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def expected_exit(signals: tuple[str, ...]) -> int:
    """128 + the number of the first signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + getattr(signal, signals[0])
