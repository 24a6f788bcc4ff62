# SPDX-License-Identifier: Apache-2.0
"""Model access for agents (issue 14): OpenAI-compatible providers, model grants, gateway tokens, usage.

An agent's card demands models (Agent Stack's LLM and embedding extensions, core/a2a/model_demand.py);
`ModelAccess` (access.py) answers each demand with a provider's model, asking the user once and
remembering the answer per agent and demand like a grant. By default the agent gets the bridge's
model gateway (core/bridge/gateway.py) and a token minted for it; the provider's key stays here.
"""
