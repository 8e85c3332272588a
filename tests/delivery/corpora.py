"""Where the external test corpora are: ../shared/corpora next to the project (see its README), or
the folder ADWRIGHT_CORPORA names. A checkout without them skips the tests that read them, saying so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

CORPORA = Path(os.environ.get("ADWRIGHT_CORPORA") or Path(settings.BASE_DIR).parent / "shared" / "corpora")

requires_corpora = pytest.mark.skipif(
    not CORPORA.is_dir(), reason=f"the external corpora are not at {CORPORA} (set ADWRIGHT_CORPORA)"
)
