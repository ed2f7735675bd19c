import subprocess
import sys

import jobtools


def test_all_is_sorted_and_importable():
    """Every name in __all__ exists, and the list stays sorted so the API reads in one screen."""
    assert list(jobtools.__all__) == sorted(jobtools.__all__)
    for name in jobtools.__all__:
        assert hasattr(jobtools, name), name


def test_import_is_light():
    """`import jobtools` loads no plotting or widget library; those wait until first used."""
    code = (
        "import sys, jobtools\n"
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'IPython', 'tqdm.notebook') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
