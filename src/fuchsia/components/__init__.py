"""WebAssembly components: what a component declares, where installed ones live, how they
travel, and the sandboxed host that runs them (DESIGN.md §5).

- `manifest`  `component.yaml`: name, version, world, tasks and their JSON Schemas, triggers,
  capabilities, default config, and the digest of the wasm; read with line/col problems.
- `package`   a component on disk: a verified source directory, or a `.fcpkg` zip made from one.
- `registry`  installed components under `$FUCHSIA_HOME/components/<name>/<version>/`, looked
  up by `name@version`; the digest is checked when a component is installed and on every load.
- `host`      the wasmtime host: engine, compiled cache, stores, limits, granted imports.
- `build`     authoring Python components with componentize-py.
"""
