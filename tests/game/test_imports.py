"""The game is pure Python: importing all of it loads neither verl nor torch."""

from __future__ import annotations

import subprocess
import sys


def test_the_game_package_imports_no_verl_and_no_torch():
    code = ("import pkgutil, sys, persuasion_rl.game as game\n"
            "for module in pkgutil.iter_modules(game.__path__): __import__(f'persuasion_rl.game.{module.name}')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('verl', 'torch')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
