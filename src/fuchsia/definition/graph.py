"""Drawing a workflow: Mermaid flowcharts and Graphviz DOT, from the validated definition."""

from __future__ import annotations

from fuchsia.definition.models import Node, WorkflowDef


def _edges(definition: WorkflowDef) -> list[tuple[str, str, str]]:
    """(upstream, node, label) for every `after` edge; branch edges carry their condition."""
    labels: dict[tuple[str, str], str] = {}
    for node_id, node in definition.nodes.items():
        for rule in node.branch or []:
            for target in rule.then:
                labels.setdefault((node_id, target), rule.when)
        for target in node.default or []:
            labels.setdefault((node_id, target), "default")
    return [
        (up, node_id, labels.get((up, node_id), ""))
        for node_id, node in definition.nodes.items()
        for up in dict.fromkeys(node.after)
    ]


def _label(node_id: str, node: Node) -> str:
    extra = (
        f" ({node.join if isinstance(node.join, str) else 'at least'} join)" if node.join else ""
    )
    return f"{node_id}: {node.kind}{extra}"


def to_mermaid(definition: WorkflowDef) -> str:
    lines = ["flowchart TD", "    trigger((trigger))"]
    for node_id, node in definition.nodes.items():
        lines.append(f'    {node_id}["{_escape(_label(node_id, node))}"]')
        if not node.after:
            lines.append(f"    trigger --> {node_id}")
    for up, down, label in _edges(definition):
        arrow = f' -- "{_escape(label)}" -->' if label else " -->"
        lines.append(f"    {up}{arrow} {down}")
    return "\n".join(lines)


def to_dot(definition: WorkflowDef) -> str:
    lines = [f'digraph "{definition.name}" {{', "    rankdir=TB;", "    trigger [shape=circle];"]
    for node_id, node in definition.nodes.items():
        lines.append(f'    "{node_id}" [shape=box, label="{_escape(_label(node_id, node))}"];')
        if not node.after:
            lines.append(f'    trigger -> "{node_id}";')
    for up, down, label in _edges(definition):
        attrs = f' [label="{_escape(label)}"]' if label else ""
        lines.append(f'    "{up}" -> "{down}"{attrs};')
    lines.append("}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")
