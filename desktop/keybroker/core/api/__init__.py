# SPDX-License-Identifier: Apache-2.0
"""The management API (`/api/v1`): `keybroker.core.api.app.create_api` builds it.

Nothing is imported here, so the CLI can load `error_codes` without FastAPI.
"""
