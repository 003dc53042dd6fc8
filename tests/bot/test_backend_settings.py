"""``AOI_BACKEND`` takes only the backends AOI serves; the library-only ones are refused with why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aoi.bot.settings import Settings


@pytest.mark.parametrize("name", ["aws", "gcp", " GCP "])
def test_library_only_cloud_backends_are_refused_saying_what_is_served(name: str) -> None:
    with pytest.raises(ValidationError, match="AOI_BACKEND") as info:
        Settings(AOI_BACKEND=name)  # type: ignore[arg-type]
    message = str(info.value)
    assert "is not served yet" in message and "AOI_BACKEND takes sim or kubernetes" in message


def test_an_unknown_backend_is_refused_and_the_served_ones_load() -> None:
    with pytest.raises(ValidationError, match="AOI_BACKEND"):
        Settings(AOI_BACKEND="azure")  # type: ignore[arg-type]
    assert Settings().backend == "sim"
    assert Settings(AOI_BACKEND="kubernetes").backend == "kubernetes"
