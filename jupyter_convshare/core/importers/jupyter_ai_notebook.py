"""Import Jupyter AI ``%%ai`` exchanges from notebooks (FORMATS.md section 2, "``%%ai`` magic outputs").

Source format: an ``.ipynb`` notebook (nbformat 4; older versions are converted with ``nbformat``)
whose code cells start with the Jupyter AI cell magic ``%%ai <model id> [-f format] [options]``
(jupyter-ai 2.x ``jupyter_ai_magics``, jupyter-ai-magic-commands in v3). Their outputs are
``execute_result`` (newer) or ``display_data`` (2023) mimebundles: ``text/markdown`` (default),
``text/html``, ``text/latex``, ``application/json``, ``image/*``, ``text/plain``.

Mapping: one linear :class:`Conversation` per notebook, in cell order; each ``%%ai`` cell is a turn:

- a ``user`` message: the prompt (the cell source after the magic line, braces such as ``{In[11]}``
  kept as written), id ``"<cell id>"`` (``"cell-<n>"`` without ids);
- an ``assistant`` message (id ``"<cell id>:output"``) when the cell has outputs: a ``text/markdown``
  output -> a markdown text part, ``text/plain``-only -> a plain text part, other bundles ->
  ``mime_bundle`` parts (data and metadata kept), ``stream`` -> plain text, ``error`` -> plain text
  ``"<ename>: <evalue>"`` and status ``"error"`` (traceback in the part's extra); with ``-f code``
  the output only says "AI generated code inserted below": the next code cell's source becomes a
  ``code`` part of the answer.
- model and provider: the output metadata ``jupyter_ai`` (top level or under the mime type:
  ``provider_id``, ``model_id``, or ``custom_chain_id``) or ``jupyter_ai_v3`` (``model_id``); 2023
  outputs have none: the magic line's model id is used (``provider:model`` split at the first colon).
  Each model is its own assistant participant (``"jupyter-ai:<model id>"``).
- other cells (markdown, code, ``%ai`` line commands) are not turns. No times: notebooks record none.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import nbformat

from ..model import Conversation, Message, Part, Participant, SourceInfo, new_id
from ._common import Context, base_name, stem

FORMAT = "jupyter-ai-notebook"
NS = "jupyter-ai"
MAGIC = "%%ai"
INSERTED = "AI generated code inserted below"


def sniff(data: Any) -> bool:
    """``True`` when parsed JSON ``data`` is a Jupyter notebook (``cells`` or ``worksheets``, ``nbformat``)."""
    return isinstance(data, dict) and "nbformat" in data and ("cells" in data or "worksheets" in data)


def parse(data: Any, *, name: str | None, source: str) -> list[Conversation]:
    """Turn a parsed notebook into one conversation of its ``%%ai`` turns.

    Args:
        data: the parsed notebook JSON.
        name: file name for the title and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.

    Raises:
        ImportFailed: the notebook is invalid (naming the nbformat validation path), or has no
            ``%%ai`` cell.
    """
    ctx = Context(source, FORMAT)
    notebook = _notebook(ctx, data)
    conversation = Conversation(
        id=new_id(),
        title=stem(name),
        source=SourceInfo(format=FORMAT, format_version=f"{notebook.nbformat}.{notebook.nbformat_minor}",
                          file_name=base_name(name), warnings=ctx.warnings),
    )
    for index, cell in enumerate(notebook.cells):
        source_text = cell.get("source", "")
        if cell.get("cell_type") != "code" or not source_text.lstrip().startswith(MAGIC):
            continue
        magic_line, _, prompt = source_text.lstrip().partition("\n")
        if not magic_line.startswith(MAGIC + " ") and magic_line.strip() != MAGIC:
            continue  # e.g. "%%aiX": another magic
        cell_id = cell.get("id") or f"cell-{index + 1}"
        magic = _magic(magic_line)
        where = {"cell_index": index, "cell_id": cell.get("id"), "magic": magic_line.strip(),
                 "execution_count": cell.get("execution_count")}
        user = Message(id=cell_id, role="user", author_id="user", parts=[Part.text_part(prompt, format="plain")],
                       extra={NS: {k: v for k, v in where.items() if v is not None}})
        conversation.participants.setdefault("user", Participant(id="user", kind="human", display_name="User"))
        conversation.append(user)
        outputs = cell.get("outputs") or []
        if not outputs:
            continue
        parts, status, provenance = _outputs(outputs)
        following = notebook.cells[index + 1] if index + 1 < len(notebook.cells) else None
        if (any(p.text and INSERTED in p.text for p in parts) and following is not None
                and following.get("cell_type") == "code"):
            # `-f code` puts the answer into a new cell below and prints only a notice.
            parts.append(Part(type="code", text=following.get("source", ""), language="python",
                              extra={NS: {"inserted_cell_id": following.get("id")}}))
        model = provenance.get("model_id") or provenance.get("custom_chain_id") or magic["model_id"]
        provider = provenance.get("provider_id") or (magic["provider_id"] if not provenance else None)
        pid = f"jupyter-ai:{model}" if model else "jupyter-ai"
        if pid not in conversation.participants:
            conversation.participants[pid] = Participant(id=pid, kind="assistant", display_name=model or "Jupyter AI",
                                                         provider=provider, model=model)
        extra: dict[str, Any] = {"provenance": provenance} if provenance else {"provenance_from": "magic line"}
        conversation.append(Message(id=f"{cell_id}:output", role="assistant", author_id=pid, parts=parts,
                                    model=model, status=status, extra={NS: extra}))  # type: ignore[arg-type]
    if not conversation.messages:
        ctx.fail("cells", "no %%ai cell: not a Jupyter AI notebook")
    leftovers = {k: v for k, v in notebook.metadata.items() if k in ("kernelspec", "language_info")}
    if leftovers:
        conversation.extra[NS] = {"metadata": leftovers}
    return [conversation]


def _notebook(ctx: Context, data: Any) -> Any:
    notebook_dict = ctx.obj(data, "")
    major = notebook_dict.get("nbformat")
    if isinstance(major, bool) or not isinstance(major, int):
        ctx.fail("nbformat", "expected an integer notebook format version")
    captured: dict[str, Any] = {}
    try:
        # reads (not from_dict): it joins list-of-lines sources and converts old versions to 4.
        notebook = nbformat.reads(json.dumps(notebook_dict), as_version=4, capture_validation_error=captured)
    except nbformat.ValidationError as exc:
        captured["ValidationError"] = exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        ctx.fail(None, f"not a valid notebook ({type(exc).__name__}: {exc})")
    error = captured.get("ValidationError")
    if error is not None:
        place = ".".join(str(p) for p in error.absolute_path) or None
        ctx.fail(place, f"not a valid notebook: {error.message}")
    return notebook


def _magic(line: str) -> dict[str, str | None]:
    """The model id and provider of a ``%%ai`` line (``%%ai provider:model -f markdown``)."""
    try:
        words = shlex.split(line)[1:]
    except ValueError:
        words = line.split()[1:]
    model: str | None = None
    # The first non-option word is the model id: options take values (-f markdown), so skip those.
    for i, word in enumerate(words):
        if word.startswith("-"):
            continue
        if i > 0 and words[i - 1].startswith("-") and "=" not in words[i - 1]:
            continue
        model = word
        break
    if model and ":" in model:
        provider, model = model.split(":", 1)
        return {"model_id": model, "provider_id": provider}
    return {"model_id": model, "provider_id": None}


def _outputs(outputs: list[Any]) -> tuple[list[Part], str, dict[str, Any]]:
    parts: list[Part] = []
    status = "complete"
    provenance: dict[str, Any] = {}
    for output in outputs:
        kind = output.get("output_type")
        if kind in ("execute_result", "display_data"):
            data = dict(output.get("data") or {})
            metadata = dict(output.get("metadata") or {})
            provenance = provenance or _provenance(metadata)
            if isinstance(data.get("text/markdown"), str):
                parts.append(Part(type="text", text=data["text/markdown"], format="markdown",
                                  extra={NS: {"metadata": metadata}} if metadata else {}))
            elif set(data) == {"text/plain"}:
                parts.append(Part(type="text", text=data["text/plain"], format="plain",
                                  extra={NS: {"metadata": metadata}} if metadata else {}))
            else:
                parts.append(Part(type="mime_bundle", data=data, metadata=metadata or None))
        elif kind == "stream":
            parts.append(Part(type="text", text=output.get("text", ""), format="plain",
                              extra={NS: {"stream": output.get("name")}}))
        elif kind == "error":
            status = "error"
            parts.append(Part(type="text", text=f"{output.get('ename', 'Error')}: {output.get('evalue', '')}",
                              format="plain", extra={NS: {"traceback": list(output.get("traceback") or [])}}))
        else:
            parts.append(Part(type="unknown", source_type=str(kind), data=dict(output)))
    return parts, status, provenance


def _provenance(metadata: dict[str, Any]) -> dict[str, Any]:
    for value in [metadata, *[v for v in metadata.values() if isinstance(v, dict)]]:
        for key in ("jupyter_ai", "jupyter_ai_v3"):
            found = value.get(key)
            if isinstance(found, dict):
                return {k: v for k, v in found.items() if isinstance(v, str)}
    return {}
