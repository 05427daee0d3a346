"""schemathesis against the running hub's own OpenAPI schema: no 5xx, answers that match it.

The schema is fetched from ``/openapi.json`` with an admin API token, and every operation in it
is called with generated inputs, valid ones and invalid ones (the token in the header): nothing
may answer 5xx, and what an operation answers must match its declared response schema and media
type.

The suite keeps the run small (``VIVANT_API_EXAMPLES``: 5 examples per operation and kind of
data by default, about 10 s per database). A longer run before a release (100: about 4 min per
database on two cores; it found nothing more than the default run on 2026-11-26):

    VIVANT_API_EXAMPLES=100 .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/hub/web/test_api_schema.py
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from hub.accounts import Role
from tests.support.accounts import api_token
from tests.support.hub_server import RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port

EXAMPLES = int(os.environ.get("VIVANT_API_EXAMPLES", "5"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    config = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    )
    # Thousands of generated calls from one address: the public limits would answer 429.
    config = config.model_copy(
        update={
            "http": config.http.model_copy(update={"public_requests_per_minute": 1_000_000}),
            "privacy": config.privacy.model_copy(update={"requests_per_client": 1000}),
        }
    )
    with running_hub(config) as running:
        yield running


@pytest.mark.timeout(900)
def test_every_operation_answers_without_5xx_and_as_its_schema_says(hub: RunningHub) -> None:
    headers = {"Authorization": f"Bearer {api_token(hub.runtime.sessions, Role.ADMIN)}"}
    document = httpx.get(f"{hub.base_url}/openapi.json", headers=headers, timeout=10)
    assert document.status_code == 200
    schema = schemathesis.openapi.from_dict(document.json())
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) >= 20, "the schema lost its operations"
    failures: list[str] = []
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                base_url=hub.base_url, headers=headers, checks=CHECKS, timeout=10
            )

        try:
            run()
        except Unsatisfiable:  # nothing of this operation can be invalid (no input, free text)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as error:  # every operation, then report all
            failures.append(f"{operation.label} ({mode.value} data): {error}")
    assert failures == [], "\n\n".join(failures)
