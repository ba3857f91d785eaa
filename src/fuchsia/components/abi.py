"""Values across the component boundary, converted by plans made once per function type.

wasmtime-py converts each value by asking the C API for its type again on every call (and a
`list<u8>` one byte at a time), all of it Python holding the GIL. Here a function's type is
walked once into a `Signature`: one plain converter per parameter and result. Calls into a
component (`call`) and from it into the host (`define`) both use them, so an attempt spends
its time in wasm, where other threads run, and a megabyte crosses as a megabyte.

Python values follow wasmtime-py's conventions: `Record` objects with attributes named as in
WIT, `Variant(tag, payload)`, `None` for an empty option, enum cases as `str`, `list<u8>` as
`bytes`; an option, result or variant whose cases lift to distinct Python types is its
payload itself, otherwise a `Variant`.

Every string and `list<u8>` a guest hands the host is lifted under a `Cap`: its length is
read before its bytes, and a value over the cap raises `OutputError` naming it (or, for a
cap that cuts, keeps the first bytes and says how many were cut) before Python copies it.

Ownership follows the C API: values lowered for a call are freed after it, a call's result
is freed after it is lifted, a host function's arguments belong to wasmtime and its results
are handed over to it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmtime import Store, WasmtimeError
from wasmtime import _ffi as ffi  # the C API itself: wasmtime-py's converters are per value
from wasmtime.component import ExportIndex, Func, Instance, Record, Variant
from wasmtime.component import _types as types
from wasmtime.component._linker import LinkerInstance

from fuchsia.components import limits
from fuchsia.errors import OutputError

Lower = Callable[[Any, Any], None]  # (python value, wasmtime_component_val_t) -> written
Lift = Callable[[Any], Any]  # wasmtime_component_val_t -> python value

_Val = ffi.wasmtime_component_val_t
_VAL_SIZE = ctypes.sizeof(_Val)
_PAYLOAD = _Val.of.offset
_next_id = iter(range(1, 2**62))  # keys handed to C callbacks as their `env`


class _Quick:
    """The C API's allocation helpers, bound without releasing the GIL.

    ctypes releases the GIL around every foreign call. For a call that only allocates or
    frees a few bytes that buys nothing, and with two threads running components it costs a
    GIL hand-off (a context switch) per call, dozens per attempt. These take microseconds,
    so they keep the GIL; the calls that run wasm (`func_call`, `instantiate`, dropping a
    store) still release it."""

    def __init__(self) -> None:
        library = ctypes.PyDLL(ffi.dll._name)  # the same library wasmtime-py loaded
        vec = ctypes.POINTER(ffi.wasm_byte_vec_t)
        val = ctypes.POINTER(_Val)
        self.byte_vec_new = self._bind(
            library.wasm_byte_vec_new, None, vec, ctypes.c_size_t, ctypes.c_char_p
        )
        self.list_new = self._bind(
            library.wasmtime_component_vallist_new_uninit,
            None,
            ctypes.POINTER(ffi.wasmtime_component_vallist_t),
            ctypes.c_size_t,
        )
        self.tuple_new = self._bind(
            library.wasmtime_component_valtuple_new_uninit,
            None,
            ctypes.POINTER(ffi.wasmtime_component_valtuple_t),
            ctypes.c_size_t,
        )
        self.record_new = self._bind(
            library.wasmtime_component_valrecord_new_uninit,
            None,
            ctypes.POINTER(ffi.wasmtime_component_valrecord_t),
            ctypes.c_size_t,
        )
        self.val_new = self._bind(library.wasmtime_component_val_new, val, val)
        self.val_delete = self._bind(library.wasmtime_component_val_delete, None, val)
        store = ctypes.POINTER(ffi.wasmtime_store_t)
        context = ctypes.POINTER(ffi.wasmtime_context_t)
        self.store_limiter = self._bind(
            library.wasmtime_store_limiter, None, store, *[ctypes.c_int64] * 5
        )
        self.epoch_deadline_callback = self._bind(
            library.wasmtime_store_epoch_deadline_callback,
            None,
            store,
            _EpochCallback,
            ctypes.c_void_p,
            _Finalizer,
        )
        self.set_epoch_deadline = self._bind(
            library.wasmtime_context_set_epoch_deadline, None, context, ctypes.c_uint64
        )
        self.instance_get_func = self._bind(
            library.wasmtime_component_instance_get_func,
            ctypes.c_bool,
            ctypes.POINTER(ffi.wasmtime_component_instance_t),
            context,
            ctypes.POINTER(ffi.wasmtime_component_export_index_t),
            ctypes.POINTER(ffi.wasmtime_component_func_t),
        )

    @staticmethod
    def _bind(function: Any, restype: Any, *argtypes: Any) -> Any:
        function.restype = restype
        function.argtypes = argtypes
        return function

    def text(self, data: bytes) -> Any:
        """A `wasm_name_t` owning a copy of `data`."""
        vec = ffi.wasm_byte_vec_t()
        self.byte_vec_new(ctypes.byref(vec), len(data), data)
        return vec


_EpochCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_quick = _Quick()


# -- caps on what a guest hands the host -------------------------------------------------


@dataclass(frozen=True)
class Cap:
    """At most `size` bytes of text and bytes in one value (each element of another list
    counts as a byte too): `what` names the value in the error. With `cut`, a longer string
    keeps its first `size` bytes and a marker instead."""

    what: str
    size: int
    cut: bool = False


class _Budget(threading.local):
    cap: Cap | None = None
    left: int = 0

    def start(self, cap: Cap | None) -> None:
        self.cap = cap
        self.left = 0 if cap is None else cap.size


_budget = _Budget()


def _take(size: int) -> tuple[int, int]:
    """How many of a `size`-byte piece to copy, and how many to cut; raise past the cap."""
    cap = _budget.cap
    if cap is None:
        return size, 0
    if size <= _budget.left:
        _budget.left -= size
        return size, 0
    if cap.cut:
        keep, _budget.left = _budget.left, 0
        return keep, size - keep
    raise OutputError(
        f"{cap.what} is larger than its cap: at least {cap.size - _budget.left + size} bytes, "
        f"the cap is {limits.size_text(cap.size)}"
    )


def _lift_under(cap: Cap | None, lift: Lift, value: Any) -> Any:
    _budget.start(cap)
    try:
        return lift(value)
    finally:
        _budget.start(None)


# -- preparing a store -------------------------------------------------------------------


def limit_memory(store: Store, size: int) -> None:
    """Cap the linear memory `store` may hold, in bytes."""
    _quick.store_limiter(store.ptr(), size, -1, -1, -1, -1)


EpochCheck = Callable[[], str | None]
_epoch_checks: dict[int, EpochCheck] = {}


def watch_epochs(store: Store, check: EpochCheck) -> None:
    """Call `check` at each epoch tick while `store` runs wasm: None keeps it running, a
    reason stops it with a trap saying `fuchsia: <reason>`."""
    key = next(_next_id)
    _epoch_checks[key] = check
    _quick.epoch_deadline_callback(store.ptr(), _on_epoch, key, _forget_epoch_check)
    _quick.set_epoch_deadline(store._context(), 1)


@_EpochCallback  # type: ignore[untyped-decorator]
def _on_epoch(_context: Any, key: int | None, delta: Any, kind: Any) -> int:
    reason = _epoch_checks[key or 0]()
    if reason is not None:
        error = ffi.wasmtime_error_new(f"fuchsia: {reason}".encode())
        return ctypes.cast(error, ctypes.c_void_p).value or 0
    delta[0] = 1
    kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
    return 0


@_Finalizer  # type: ignore[untyped-decorator]
def _forget_epoch_check(key: int | None) -> None:  # the store was dropped
    if _epoch_checks is not None:  # None once the interpreter is shutting down
        _epoch_checks.pop(key or 0, None)


def get_func(instance: Instance, store: Store, index: ExportIndex) -> Func | None:
    raw = ffi.wasmtime_component_func_t()
    found = _quick.instance_get_func(
        ctypes.byref(instance._instance), store._context(), index.ptr(), ctypes.byref(raw)
    )
    return Func._from_raw(raw) if found else None


class SignatureError(TypeError):
    """A function type this module has no conversion for (flags, resources, streams)."""


@dataclass(frozen=True)
class Signature:
    """How to lower and lift one function's parameters and result."""

    lower_params: tuple[Lower, ...]
    lift_params: tuple[Lift, ...]
    lower_result: Lower | None
    lift_result: Lift | None

    @classmethod
    def of(cls, ty: types.FuncType) -> Signature:
        params = [valtype for _name, valtype in ty.params]
        result = ty.result
        return cls(
            lower_params=tuple(_lowering(p) for p in params),
            lift_params=tuple(_lifting(p) for p in params),
            lower_result=None if result is None else _lowering(result),
            lift_result=None if result is None else _lifting(result),
        )


# -- calling into a component ------------------------------------------------------------


def signature_of(func: Func, store: Store) -> Signature:
    raw = ffi.wasmtime_component_func_type(ctypes.byref(func._func), store._context())
    return Signature.of(types.FuncType._from_ptr(raw))


def call(func: Func, store: Store, signature: Signature, *args: Any, cap: Cap | None = None) -> Any:
    """Call `func` with `args`; the lifted result, its strings and bytes under `cap`. A wasm
    trap raises `WasmtimeError`; an exception raised by a host function during the call is
    re-raised as itself."""
    if len(args) != len(signature.lower_params):
        raise TypeError(f"expected {len(signature.lower_params)} arguments, got {len(args)}")
    params = (_Val * len(args))()  # zeroed: `bool false`, safe to free at any point
    lowered = 0
    try:
        for lower, value, slot in zip(signature.lower_params, args, params, strict=True):
            lowered += 1  # a half-lowered value holds only what it owns
            lower(value, slot)
        result = _Val()
        wants_result = signature.lift_result is not None
        error = ffi.wasmtime_component_func_call(
            ctypes.byref(func._func),
            store._context(),
            params,
            len(args),
            ctypes.byref(result) if wants_result else None,
            1 if wants_result else 0,
        )
        _raise_for(error)
        if signature.lift_result is None:
            return None
        try:
            return _lift_under(cap, signature.lift_result, result)
        finally:
            _quick.val_delete(ctypes.byref(result))
    finally:
        for i in range(lowered):
            _quick.val_delete(ctypes.byref(params[i]))


def post_return(func: Func, store: Store) -> None:
    _raise_for(ffi.wasmtime_component_func_post_return(ctypes.byref(func._func), store._context()))


_failed = threading.local()  # the exception a host function raised, for `call` to re-raise


def _raise_for(error: Any) -> None:
    if not error:
        return
    exception = WasmtimeError._from_ptr(error)
    raised: BaseException | None = getattr(_failed, "exception", None)
    _failed.exception = None
    if raised is not None:
        raise raised from exception
    raise exception


# -- calls from a component into the host ------------------------------------------------


@dataclass
class _HostFunction:
    func: Callable[..., Any]
    caps: tuple[Cap | None, ...]
    signature: Signature | None = None


_host_functions: dict[int, _HostFunction] = {}


def define(
    instance: LinkerInstance, name: str, func: Callable[..., Any], *caps: Cap | None
) -> None:
    """Define `name` in a linker instance as `func`, called with the lifted arguments and
    returning the Python value to lower as its result. Each argument is lifted under the
    cap in the same position (none for an argument without one)."""
    key = next(_next_id)
    _host_functions[key] = _HostFunction(func, caps)
    encoded = name.encode()
    buffer = ctypes.create_string_buffer(encoded)
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), buffer, len(encoded), _trampoline, key, _forget
    )
    if error:
        raise WasmtimeError._from_ptr(error)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _trampoline(
    key: int | None, _context: Any, ty: Any, args: Any, nargs: int, results: Any, _nresults: int
) -> int:
    try:
        host = _host_functions[key or 0]
        signature = host.signature
        if signature is None:  # the same import has the same type every time
            signature = host.signature = Signature.of(types.FuncType._from_ptr(ty, owner=True))
        caps = host.caps + (None,) * nargs
        values = [
            _lift_under(caps[i], lift, args[i])
            for i, lift in enumerate(signature.lift_params[:nargs])
        ]
        result = host.func(*values)
        if signature.lower_result is not None:
            signature.lower_result(result, results[0])
        return 0
    except Exception as exc:  # handed to the caller of the wasm: see `_raise_for`
        _failed.exception = exc
        error = ffi.wasmtime_error_new(f"host function failed: {exc}".encode())
        return ctypes.cast(error, ctypes.c_void_p).value or 0


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _forget(key: int | None) -> None:
    if _host_functions is not None:  # None once the interpreter is shutting down
        _host_functions.pop(key or 0, None)


# -- planning conversions ----------------------------------------------------------------

_SCALARS: dict[type[types.ValType], tuple[str, str, type]] = {
    types.Bool: ("WASMTIME_COMPONENT_BOOL", "boolean", bool),
    types.S8: ("WASMTIME_COMPONENT_S8", "s8", int),
    types.U8: ("WASMTIME_COMPONENT_U8", "u8", int),
    types.S16: ("WASMTIME_COMPONENT_S16", "s16", int),
    types.U16: ("WASMTIME_COMPONENT_U16", "u16", int),
    types.S32: ("WASMTIME_COMPONENT_S32", "s32", int),
    types.U32: ("WASMTIME_COMPONENT_U32", "u32", int),
    types.S64: ("WASMTIME_COMPONENT_S64", "s64", int),
    types.U64: ("WASMTIME_COMPONENT_U64", "u64", int),
    types.F32: ("WASMTIME_COMPONENT_F32", "f32", float),
    types.F64: ("WASMTIME_COMPONENT_F64", "f64", float),
}


def _kind(name: str) -> int:
    value: int = getattr(ffi, name).value
    return value


def _lowering(ty: types.ValType) -> Lower:
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        return _lower_scalar(*scalar)
    if isinstance(ty, types.String):
        return _lower_text(_kind("WASMTIME_COMPONENT_STRING"), "string")
    if isinstance(ty, types.EnumType):
        return _lower_text(_kind("WASMTIME_COMPONENT_ENUM"), "enumeration")
    if isinstance(ty, types.Char):
        return _lower_char
    if isinstance(ty, types.ListType):
        element = ty.element
        if isinstance(element, types.U8):
            return _lower_bytes
        return _lower_list(_lowering(element))
    if isinstance(ty, types.TupleType):
        return _lower_tuple([_lowering(e) for e in ty.elements])
    if isinstance(ty, types.RecordType):
        return _lower_record([(name, _lowering(t)) for name, t in ty.fields])
    if isinstance(ty, (types.VariantType, types.OptionType, types.ResultType)):
        return _lower_variant(ty)
    raise SignatureError(f"no conversion for component type {type(ty).__name__}")


def _lifting(ty: types.ValType) -> Lift:
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        field = scalar[1]
        return lambda v: getattr(v.of, field)
    if isinstance(ty, types.String):
        return lambda v: _guest_text(v.of.string)
    if isinstance(ty, types.EnumType):
        return lambda v: _text(v.of.enumeration)
    if isinstance(ty, types.Char):
        return lambda v: chr(v.of.character)
    if isinstance(ty, types.ListType):
        element = ty.element
        if isinstance(element, types.U8):
            return _lift_bytes
        lift = _lifting(element)
        return lambda v: [lift(v.of.list.data[i]) for i in range(_take(v.of.list.size)[0])]
    if isinstance(ty, types.TupleType):
        lifts = [_lifting(e) for e in ty.elements]
        return lambda v: tuple(lift(v.of.tuple.data[i]) for i, lift in enumerate(lifts))
    if isinstance(ty, types.RecordType):
        return _lift_record([(name, _lifting(t)) for name, t in ty.fields])
    if isinstance(ty, (types.VariantType, types.OptionType, types.ResultType)):
        return _lift_variant(ty)
    raise SignatureError(f"no conversion for component type {type(ty).__name__}")


def _text(vec: Any) -> str:
    return ctypes.string_at(vec.data, vec.size).decode()


def _guest_text(vec: Any) -> str:
    """A string under this thread's cap: its length checked before it is copied."""
    keep, cut = _take(vec.size)
    if not cut:
        return _text(vec)
    text = ctypes.string_at(vec.data, keep).decode(errors="ignore")  # a whole character
    cap = _budget.cap
    assert cap is not None
    return text + limits.cut_marker(cut, cap.size)


# -- lowering ----------------------------------------------------------------------------


def _lower_scalar(kind_name: str, field: str, python: type) -> Lower:
    kind = _kind(kind_name)

    def lower(value: Any, v: Any) -> None:
        if not isinstance(value, python) and not (python is float and isinstance(value, int)):
            raise TypeError(f"expected {python.__name__}, got {type(value).__name__}")
        v.kind = kind
        setattr(v.of, field, value)

    return lower


def _lower_text(kind: int, field: str) -> Lower:
    def lower(value: Any, v: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        text = _quick.text(value.encode())
        v.kind = kind
        setattr(v.of, field, text)

    return lower


_CHAR = _kind("WASMTIME_COMPONENT_CHAR")


def _lower_char(value: Any, v: Any) -> None:
    if not isinstance(value, str) or len(value) != 1:
        raise TypeError("expected a one-character str")
    v.kind = _CHAR
    v.of.character = ord(value)


_LIST = _kind("WASMTIME_COMPONENT_LIST")
_U8 = _kind("WASMTIME_COMPONENT_U8")


def _lower_bytes(value: Any, v: Any) -> None:
    """A `list<u8>` in one copy: build the array of u8 values with slice assignment."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    data = bytes(value)
    raw = ffi.wasmtime_component_vallist_t()
    _quick.list_new(ctypes.byref(raw), len(data))
    if data:
        image = bytearray(_VAL_SIZE * len(data))
        image[0::_VAL_SIZE] = bytes([_U8]) * len(data)
        image[_PAYLOAD::_VAL_SIZE] = data
        ctypes.memmove(raw.data, bytes(image), len(image))
    v.kind = _LIST
    v.of.list = raw


def _lift_bytes(v: Any) -> bytes:
    size, _cut = _take(v.of.list.size)  # under a cutting cap, the first bytes
    if size == 0:
        return b""
    return ctypes.string_at(v.of.list.data, _VAL_SIZE * size)[_PAYLOAD::_VAL_SIZE]


def _lower_list(lower_item: Lower) -> Lower:
    def lower(value: Any, v: Any) -> None:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        raw = ffi.wasmtime_component_vallist_t()
        _quick.list_new(ctypes.byref(raw), len(value))
        _fill(raw, [lower_item] * len(value), value, ffi.wasmtime_component_vallist_delete)
        v.kind = _LIST
        v.of.list = raw

    return lower


_TUPLE = _kind("WASMTIME_COMPONENT_TUPLE")


def _lower_tuple(lowers: list[Lower]) -> Lower:
    def lower(value: Any, v: Any) -> None:
        if not isinstance(value, (tuple, list)) or len(value) != len(lowers):
            raise TypeError(f"expected a tuple of {len(lowers)}")
        raw = ffi.wasmtime_component_valtuple_t()
        _quick.tuple_new(ctypes.byref(raw), len(lowers))
        _fill(raw, lowers, value, ffi.wasmtime_component_valtuple_delete)
        v.kind = _TUPLE
        v.of.tuple = raw

    return lower


def _fill(raw: Any, lowers: list[Lower], values: Any, delete: Callable[[Any], None]) -> None:
    """Lower `values` into an uninitialised vector; on failure, free what was written."""
    done = 0
    try:
        for i, (lower, value) in enumerate(zip(lowers, values, strict=True)):
            lower(value, raw.data[i])
            done += 1
    except BaseException:
        for i in range(done, len(lowers)):  # make the rest harmless to free
            raw.data[i].kind = _BOOL
            raw.data[i].of.boolean = False
        delete(ctypes.byref(raw))
        raise


_BOOL = _kind("WASMTIME_COMPONENT_BOOL")
_RECORD = _kind("WASMTIME_COMPONENT_RECORD")


def _lower_record(fields: list[tuple[str, Lower]]) -> Lower:
    names = [name.encode() for name, _ in fields]

    def lower(value: Any, v: Any) -> None:
        raw = ffi.wasmtime_component_valrecord_t()
        _quick.record_new(ctypes.byref(raw), len(fields))
        done = 0
        try:
            for i, (name, lower_field) in enumerate(fields):
                entry = raw.data[i]
                lower_field(getattr(value, name), entry.val)
                entry.name = _quick.text(names[i])
                done += 1
        except BaseException:
            for i in range(done, len(fields)):
                raw.data[i].name = _quick.text(b"")
                raw.data[i].val.kind = _BOOL
                raw.data[i].val.of.boolean = False
            ffi.wasmtime_component_valrecord_delete(ctypes.byref(raw))
            raise
        v.kind = _RECORD
        v.of.record = raw

    return lower


def _lift_record(fields: list[tuple[str, Lift]]) -> Lift:
    def lift(v: Any) -> Record:
        record = Record()
        data = v.of.record.data
        for i, (name, lift_field) in enumerate(fields):
            setattr(record, name, lift_field(data[i].val))
        return record

    return lift


@dataclass(frozen=True)
class _Case:
    name: str
    lower: Lower | None
    lift: Lift | None
    classes: tuple[type, ...]  # the Python types this case's payload lifts to


def _cases(ty: types.VariantType | types.OptionType | types.ResultType) -> list[_Case]:
    cases = []
    for name, payload in ty._cases():
        classes: set[type] = set()
        if payload is None:
            classes.add(type(None))
        else:
            payload.add_classes(classes)
        cases.append(
            _Case(
                name,
                None if payload is None else _lowering(payload),
                None if payload is None else _lifting(payload),
                tuple(classes),
            )
        )
    return cases


_VARIANT = _kind("WASMTIME_COMPONENT_VARIANT")
_OPTION = _kind("WASMTIME_COMPONENT_OPTION")
_RESULT = _kind("WASMTIME_COMPONENT_RESULT")


def _lower_variant(ty: types.VariantType | types.OptionType | types.ResultType) -> Lower:
    cases = _cases(ty)
    tagged = ty._tagged()
    by_name = {case.name: case for case in cases}

    def choose(value: Any) -> tuple[_Case, Any]:
        if tagged:
            if not isinstance(value, Variant) or value.tag not in by_name:
                raise TypeError(f"expected a Variant with a tag in {sorted(by_name)}")
            return by_name[value.tag], value.payload
        for case in cases:
            if isinstance(value, case.classes):
                return case, value
        raise TypeError(f"{type(value).__name__} fits no case of {sorted(by_name)}")

    def boxed(case: _Case, payload: Any) -> Any:
        if case.lower is None:
            return None
        inner = _Val()
        case.lower(payload, inner)
        return _quick.val_new(ctypes.byref(inner))

    def lower(value: Any, v: Any) -> None:
        case, payload = choose(value)
        if isinstance(ty, types.OptionType):
            v.kind = _OPTION
            v.of.option = boxed(case, payload)
        elif isinstance(ty, types.ResultType):
            v.kind = _RESULT
            v.of.result.is_ok = case.name == "ok"
            v.of.result.val = boxed(case, payload)
        else:
            v.kind = _VARIANT
            v.of.variant.discriminant = _quick.text(case.name.encode())
            v.of.variant.val = boxed(case, payload)

    return lower


def _lift_variant(ty: types.VariantType | types.OptionType | types.ResultType) -> Lift:
    by_name = {case.name: case for case in _cases(ty)}
    tagged = ty._tagged()

    def lift(v: Any) -> Any:
        if isinstance(ty, types.OptionType):
            name, inner = ("some", v.of.option) if v.of.option else ("none", None)
        elif isinstance(ty, types.ResultType):
            name, inner = ("ok" if v.of.result.is_ok else "err"), v.of.result.val
        else:
            name, inner = _text(v.of.variant.discriminant), v.of.variant.val
        case = by_name[name]
        payload = None if case.lift is None or not inner else case.lift(inner.contents)
        return Variant(name, payload) if tagged else payload

    return lift
