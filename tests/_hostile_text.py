"""Text that has broken jobtools' displays: the same strings in every place that shows text.

Used by the table, plot and monitor tests and by the browser tests.
"""

from __future__ import annotations

DOLLARS = "$HOME and $PATH cost $5 … $10"
MACRO = r"$\undefinedmacro{x}$ in C:\$Recycle.Bin"
SCRIPT = "<img src=x onerror=\"window.__jt_pwned=1;alert('pwned')\">"
RTL = "invoice\u202egpj.exe done"  # a right-to-left override: would show "invoiceexe.jpg"
INVISIBLE = "zero\u200bwidth\u2066isolate\u0007bell"
LONG = "https://obs.example.com/bucket/" + "a1B2c3D4" * 246 + "Z"  # 2,000 characters, unbroken
TEXTS = (DOLLARS, MACRO, SCRIPT, RTL, INVISIBLE, LONG)
