"""Sphinx extension: the page of registered names, written from the plugin registry at build time.

``pc.solve(problem, method=name)``, ``pc.dictionary(name, ...)`` and the spec
files look names up in the registry (:mod:`proxcore.plugins`). The page
``registry.rst`` includes one generated fragment per kind,
``generated/registry_<kind>.inc``, so a pursuit, dictionary, regularizer or
operator added by a built-in plugin appears in the documentation without
editing it. Only proxcore's own distribution is listed: third-party plugins
installed in the build environment are not.
"""

import inspect
import pathlib

KINDS = {
    "pursuits": "``pc.solve(problem, method=name, **options)`` calls the function with ``problem`` and the options.",
    "dictionaries": "``pc.dictionary(name, **params)`` calls the factory and returns a :class:`proxcore.LinearOperator`.",
    "regularizers": "Named in spec files (``regularizer = { name = ..., ... }``) and built by ``pc.plugins.regularizer(name, **params)``.",
    "operators": "``pc.plugins.operator(name, **params)`` calls the factory and returns a :class:`proxcore.LinearOperator`.",
}
PLUGIN_ORDER = {"essential": 0}


def _target(factory):
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    return f"{module}.{qualname}"


def fragments():
    """The reST text for each kind, from the current registry."""
    import proxcore.plugins as plugins

    manager = plugins.get_manager()
    documented, out = {}, {}
    public = {f"{getattr(proxcore_obj, '__module__', '')}.{getattr(proxcore_obj, '__qualname__', '')}": name
              for name, proxcore_obj in _public_names().items()}
    for kind, intro in KINDS.items():
        entries = [e for e in manager.entries(kind) if e.distribution == "proxcore"]
        entries.sort(key=lambda e: (PLUGIN_ORDER.get(e.plugin, 1), e.plugin, e.name))
        lines = [intro, ""]
        for entry in entries:
            title = f"``{entry.name}``"
            lines += [title, "~" * len(title), "", f"Plugin ``{entry.plugin}``.", ""]
            target = _target(entry.factory)
            if target is None:
                doc = inspect.getdoc(entry.factory) or "(no description)"
                lines += [doc.splitlines()[0], ""]
            elif target in public:
                lines += [f"The class :class:`proxcore.{public[target]}`.", ""]
            elif target in documented:
                lines += [f"The same factory as {documented[target]}: :func:`{target}`.", ""]
            else:
                documented[target] = f"the {kind[:-1].replace('dictionarie', 'dictionary')} ``{entry.name}``"
                directive = "autoclass" if inspect.isclass(entry.factory) else "autofunction"
                lines += [f".. {directive}:: {target}", ""]
        out[kind] = "\n".join(lines)
    return out


def _public_names():
    import proxcore

    return {name: getattr(proxcore, name) for name in proxcore.__all__ if inspect.isclass(getattr(proxcore, name))}


def write_fragments(app):
    folder = pathlib.Path(app.srcdir) / "generated"
    folder.mkdir(exist_ok=True)
    for kind, text in fragments().items():
        path = folder / f"registry_{kind}.inc"
        if not path.exists() or path.read_text(encoding="utf-8") != text:  # unchanged: no rebuild
            path.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", write_fragments)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
