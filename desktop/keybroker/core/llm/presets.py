# SPDX-License-Identifier: Apache-2.0
"""Where common OpenAI-compatible APIs live, and the LiteLLM provider names their models go by.

An agent suggests models as LiteLLM identifiers (`openai/gpt-4o`, `ollama/llama3.1`); a preset says
which of those prefixes a provider answers to (matching.py). Any other OpenAI-compatible URL works as
a `custom` provider, whose models match by name alone.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CUSTOM", "PRESETS", "Preset", "preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    """One known API: its base URL, whether it needs a key, and its LiteLLM prefixes."""

    name: str
    label: str
    base_url: str
    needs_key: bool
    prefixes: tuple[str, ...]


CUSTOM = Preset("custom", "Other OpenAI-compatible API", "", True, ())

PRESETS: tuple[Preset, ...] = (
    Preset("openai", "OpenAI", "https://api.openai.com/v1", True, ("openai", "text-completion-openai")),
    Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", True, ("openrouter",)),
    Preset("ollama", "Ollama (this computer)", "http://127.0.0.1:11434/v1", False, ("ollama", "ollama_chat")),
    Preset("lmstudio", "LM Studio (this computer)", "http://127.0.0.1:1234/v1", False, ("lm_studio",)),
    Preset("vllm", "vLLM (this computer)", "http://127.0.0.1:8000/v1", False, ("hosted_vllm", "vllm")),
    Preset("groq", "Groq", "https://api.groq.com/openai/v1", True, ("groq",)),
    Preset("mistral", "Mistral AI", "https://api.mistral.ai/v1", True, ("mistral",)),
    Preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1", True, ("deepseek",)),
    Preset("together", "Together AI", "https://api.together.xyz/v1", True, ("together_ai",)),
    Preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1", True, ("fireworks_ai",)),
    Preset("xai", "xAI", "https://api.x.ai/v1", True, ("xai",)),
    Preset(
        "gemini",
        "Google Gemini (OpenAI-compatible)",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        True,
        ("gemini",),
    ),
    Preset(
        "anthropic",
        "Anthropic (OpenAI SDK compatibility)",
        "https://api.anthropic.com/v1",
        True,
        ("anthropic",),
    ),
    CUSTOM,
)


def preset(name: str) -> Preset:
    """The preset called `name`; `custom` for an unknown or empty one."""
    return next((p for p in PRESETS if p.name == name), CUSTOM)
