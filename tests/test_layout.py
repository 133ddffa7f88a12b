"""platform/ is a source root, never a package: the standard ``platform`` module must win."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_is_the_standard_library_module_in_the_django_process() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()
    assert Path(platform.__file__).parent != ROOT / "platform"
    assert platform.system() == "Linux"


def test_manage_py_process_sees_the_standard_platform_module(subprocess_env: dict) -> None:
    code = (
        "import django, platform; django.setup(); "
        "print(platform.system(), platform.__file__)"
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        capture_output=True, text=True, check=True, cwd=ROOT, env=subprocess_env,
    )
    system, module_file = result.stdout.split()[-2:]
    assert system == "Linux"
    assert "/platform/" not in module_file.replace(str(ROOT), "")
