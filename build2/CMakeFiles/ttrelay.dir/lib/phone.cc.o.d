CMakeFiles/ttrelay.dir/lib/phone.cc.o: /work/main/lib/phone.cc \
 /usr/include/stdc-predef.h /work/main/lib/phone.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h \
 /usr/include/c++/12/cstring \
 /usr/include/x86_64-linux-gnu/c++/12/bits/c++config.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/os_defines.h \
 /usr/include/features.h /usr/include/features-time64.h \
 /usr/include/x86_64-linux-gnu/bits/wordsize.h \
 /usr/include/x86_64-linux-gnu/bits/timesize.h \
 /usr/include/x86_64-linux-gnu/sys/cdefs.h \
 /usr/include/x86_64-linux-gnu/bits/long-double.h \
 /usr/include/x86_64-linux-gnu/gnu/stubs.h \
 /usr/include/x86_64-linux-gnu/gnu/stubs-64.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/cpu_defines.h \
 /usr/include/c++/12/pstl/pstl_config.h /usr/include/string.h \
 /usr/include/x86_64-linux-gnu/bits/libc-header-start.h \
 /usr/include/x86_64-linux-gnu/bits/types/locale_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__locale_t.h \
 /usr/include/strings.h /usr/include/c++/12/string \
 /usr/include/c++/12/bits/stringfwd.h \
 /usr/include/c++/12/bits/memoryfwd.h \
 /usr/include/c++/12/bits/char_traits.h \
 /usr/include/c++/12/bits/postypes.h /usr/include/c++/12/cwchar \
 /usr/include/wchar.h /usr/include/x86_64-linux-gnu/bits/floatn.h \
 /usr/include/x86_64-linux-gnu/bits/floatn-common.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stdarg.h \
 /usr/include/x86_64-linux-gnu/bits/wchar.h \
 /usr/include/x86_64-linux-gnu/bits/types/wint_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/mbstate_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__mbstate_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__FILE.h \
 /usr/include/x86_64-linux-gnu/bits/types/FILE.h \
 /usr/include/c++/12/type_traits /usr/include/c++/12/cstdint \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stdint.h /usr/include/stdint.h \
 /usr/include/x86_64-linux-gnu/bits/types.h \
 /usr/include/x86_64-linux-gnu/bits/typesizes.h \
 /usr/include/x86_64-linux-gnu/bits/time64.h \
 /usr/include/x86_64-linux-gnu/bits/stdint-intn.h \
 /usr/include/x86_64-linux-gnu/bits/stdint-uintn.h \
 /usr/include/c++/12/bits/allocator.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/c++allocator.h \
 /usr/include/c++/12/bits/new_allocator.h /usr/include/c++/12/new \
 /usr/include/c++/12/bits/exception.h \
 /usr/include/c++/12/bits/functexcept.h \
 /usr/include/c++/12/bits/exception_defines.h \
 /usr/include/c++/12/bits/move.h \
 /usr/include/c++/12/bits/cpp_type_traits.h \
 /usr/include/c++/12/bits/localefwd.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/c++locale.h \
 /usr/include/c++/12/clocale /usr/include/locale.h \
 /usr/include/x86_64-linux-gnu/bits/locale.h /usr/include/c++/12/iosfwd \
 /usr/include/c++/12/cctype /usr/include/ctype.h \
 /usr/include/x86_64-linux-gnu/bits/endian.h \
 /usr/include/x86_64-linux-gnu/bits/endianness.h \
 /usr/include/c++/12/bits/ostream_insert.h \
 /usr/include/c++/12/bits/cxxabi_forced.h \
 /usr/include/c++/12/bits/stl_iterator_base_types.h \
 /usr/include/c++/12/bits/stl_iterator_base_funcs.h \
 /usr/include/c++/12/bits/concept_check.h \
 /usr/include/c++/12/debug/assertions.h \
 /usr/include/c++/12/bits/stl_iterator.h \
 /usr/include/c++/12/ext/type_traits.h \
 /usr/include/c++/12/bits/ptr_traits.h \
 /usr/include/c++/12/bits/stl_function.h \
 /usr/include/c++/12/backward/binders.h \
 /usr/include/c++/12/ext/numeric_traits.h \
 /usr/include/c++/12/bits/stl_algobase.h \
 /usr/include/c++/12/bits/stl_pair.h /usr/include/c++/12/bits/utility.h \
 /usr/include/c++/12/debug/debug.h \
 /usr/include/c++/12/bits/predefined_ops.h \
 /usr/include/c++/12/bits/refwrap.h /usr/include/c++/12/bits/invoke.h \
 /usr/include/c++/12/bits/range_access.h \
 /usr/include/c++/12/initializer_list \
 /usr/include/c++/12/bits/basic_string.h \
 /usr/include/c++/12/ext/alloc_traits.h \
 /usr/include/c++/12/bits/alloc_traits.h \
 /usr/include/c++/12/bits/stl_construct.h /usr/include/c++/12/string_view \
 /usr/include/c++/12/bits/functional_hash.h \
 /usr/include/c++/12/bits/hash_bytes.h \
 /usr/include/c++/12/bits/string_view.tcc \
 /usr/include/c++/12/ext/string_conversions.h /usr/include/c++/12/cstdlib \
 /usr/include/stdlib.h /usr/include/x86_64-linux-gnu/bits/waitflags.h \
 /usr/include/x86_64-linux-gnu/bits/waitstatus.h \
 /usr/include/x86_64-linux-gnu/sys/types.h \
 /usr/include/x86_64-linux-gnu/bits/types/clock_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/clockid_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/time_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/timer_t.h /usr/include/endian.h \
 /usr/include/x86_64-linux-gnu/bits/byteswap.h \
 /usr/include/x86_64-linux-gnu/bits/uintn-identity.h \
 /usr/include/x86_64-linux-gnu/sys/select.h \
 /usr/include/x86_64-linux-gnu/bits/select.h \
 /usr/include/x86_64-linux-gnu/bits/types/sigset_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__sigset_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_timeval.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_timespec.h \
 /usr/include/x86_64-linux-gnu/bits/pthreadtypes.h \
 /usr/include/x86_64-linux-gnu/bits/thread-shared-types.h \
 /usr/include/x86_64-linux-gnu/bits/pthreadtypes-arch.h \
 /usr/include/x86_64-linux-gnu/bits/atomic_wide_counter.h \
 /usr/include/x86_64-linux-gnu/bits/struct_mutex.h \
 /usr/include/x86_64-linux-gnu/bits/struct_rwlock.h /usr/include/alloca.h \
 /usr/include/x86_64-linux-gnu/bits/stdlib-bsearch.h \
 /usr/include/x86_64-linux-gnu/bits/stdlib-float.h \
 /usr/include/c++/12/bits/std_abs.h /usr/include/c++/12/cstdio \
 /usr/include/stdio.h /usr/include/x86_64-linux-gnu/bits/types/__fpos_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__fpos64_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_FILE.h \
 /usr/include/x86_64-linux-gnu/bits/types/cookie_io_functions_t.h \
 /usr/include/x86_64-linux-gnu/bits/stdio_lim.h \
 /usr/include/x86_64-linux-gnu/bits/stdio.h /usr/include/c++/12/cerrno \
 /usr/include/errno.h /usr/include/x86_64-linux-gnu/bits/errno.h \
 /usr/include/linux/errno.h /usr/include/x86_64-linux-gnu/asm/errno.h \
 /usr/include/asm-generic/errno.h /usr/include/asm-generic/errno-base.h \
 /usr/include/x86_64-linux-gnu/bits/types/error_t.h \
 /usr/include/c++/12/bits/charconv.h \
 /usr/include/c++/12/bits/basic_string.tcc \
 /usr/include/phonenumbers/phonenumber.pb.h /usr/include/c++/12/limits \
 /usr/include/google/protobuf/port_def.inc \
 /usr/include/google/protobuf/port_undef.inc \
 /usr/include/google/protobuf/io/coded_stream.h /usr/include/assert.h \
 /usr/include/c++/12/atomic /usr/include/c++/12/bits/atomic_base.h \
 /usr/include/c++/12/bits/atomic_lockfree_defines.h \
 /usr/include/c++/12/climits \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/limits.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/syslimits.h \
 /usr/include/limits.h /usr/include/x86_64-linux-gnu/bits/posix1_lim.h \
 /usr/include/x86_64-linux-gnu/bits/local_lim.h \
 /usr/include/linux/limits.h \
 /usr/include/x86_64-linux-gnu/bits/pthread_stack_min-dynamic.h \
 /usr/include/x86_64-linux-gnu/bits/posix2_lim.h \
 /usr/include/x86_64-linux-gnu/bits/xopen_lim.h \
 /usr/include/x86_64-linux-gnu/bits/uio_lim.h /usr/include/c++/12/cstddef \
 /usr/include/c++/12/utility /usr/include/c++/12/bits/stl_relops.h \
 /usr/include/google/protobuf/stubs/common.h \
 /usr/include/c++/12/algorithm /usr/include/c++/12/bits/stl_algo.h \
 /usr/include/c++/12/bits/algorithmfwd.h \
 /usr/include/c++/12/bits/stl_heap.h \
 /usr/include/c++/12/bits/stl_tempbuf.h \
 /usr/include/c++/12/bits/uniform_int_dist.h \
 /usr/include/c++/12/pstl/glue_algorithm_defs.h \
 /usr/include/c++/12/pstl/execution_defs.h /usr/include/c++/12/iostream \
 /usr/include/c++/12/ostream /usr/include/c++/12/ios \
 /usr/include/c++/12/exception /usr/include/c++/12/bits/exception_ptr.h \
 /usr/include/c++/12/bits/cxxabi_init_exception.h \
 /usr/include/c++/12/typeinfo /usr/include/c++/12/bits/nested_exception.h \
 /usr/include/c++/12/bits/ios_base.h /usr/include/c++/12/ext/atomicity.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/gthr.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/gthr-default.h \
 /usr/include/pthread.h /usr/include/sched.h \
 /usr/include/x86_64-linux-gnu/bits/sched.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_sched_param.h \
 /usr/include/x86_64-linux-gnu/bits/cpu-set.h /usr/include/time.h \
 /usr/include/x86_64-linux-gnu/bits/time.h \
 /usr/include/x86_64-linux-gnu/bits/timex.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_tm.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_itimerspec.h \
 /usr/include/x86_64-linux-gnu/bits/setjmp.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct___jmp_buf_tag.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/atomic_word.h \
 /usr/include/x86_64-linux-gnu/sys/single_threaded.h \
 /usr/include/c++/12/bits/locale_classes.h \
 /usr/include/c++/12/bits/locale_classes.tcc \
 /usr/include/c++/12/system_error \
 /usr/include/x86_64-linux-gnu/c++/12/bits/error_constants.h \
 /usr/include/c++/12/stdexcept /usr/include/c++/12/streambuf \
 /usr/include/c++/12/bits/streambuf.tcc \
 /usr/include/c++/12/bits/basic_ios.h \
 /usr/include/c++/12/bits/locale_facets.h /usr/include/c++/12/cwctype \
 /usr/include/wctype.h /usr/include/x86_64-linux-gnu/bits/wctype-wchar.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/ctype_base.h \
 /usr/include/c++/12/bits/streambuf_iterator.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/ctype_inline.h \
 /usr/include/c++/12/bits/locale_facets.tcc \
 /usr/include/c++/12/bits/basic_ios.tcc \
 /usr/include/c++/12/bits/ostream.tcc /usr/include/c++/12/istream \
 /usr/include/c++/12/bits/istream.tcc /usr/include/c++/12/map \
 /usr/include/c++/12/bits/stl_tree.h \
 /usr/include/c++/12/ext/aligned_buffer.h \
 /usr/include/c++/12/bits/node_handle.h \
 /usr/include/c++/12/bits/stl_map.h /usr/include/c++/12/tuple \
 /usr/include/c++/12/bits/uses_allocator.h \
 /usr/include/c++/12/bits/stl_multimap.h \
 /usr/include/c++/12/bits/erase_if.h /usr/include/c++/12/memory \
 /usr/include/c++/12/bits/stl_uninitialized.h \
 /usr/include/c++/12/bits/stl_raw_storage_iter.h \
 /usr/include/c++/12/bits/align.h /usr/include/c++/12/bit \
 /usr/include/c++/12/bits/unique_ptr.h \
 /usr/include/c++/12/bits/shared_ptr.h \
 /usr/include/c++/12/bits/shared_ptr_base.h \
 /usr/include/c++/12/bits/allocated_ptr.h \
 /usr/include/c++/12/ext/concurrence.h \
 /usr/include/c++/12/bits/shared_ptr_atomic.h \
 /usr/include/c++/12/backward/auto_ptr.h \
 /usr/include/c++/12/pstl/glue_memory_defs.h /usr/include/c++/12/set \
 /usr/include/c++/12/bits/stl_set.h \
 /usr/include/c++/12/bits/stl_multiset.h /usr/include/c++/12/vector \
 /usr/include/c++/12/bits/stl_vector.h \
 /usr/include/c++/12/bits/stl_bvector.h \
 /usr/include/c++/12/bits/vector.tcc \
 /usr/include/google/protobuf/stubs/macros.h \
 /usr/include/google/protobuf/stubs/platform_macros.h \
 /usr/include/google/protobuf/stubs/port.h /usr/include/c++/12/stdlib.h \
 /usr/include/byteswap.h /usr/include/google/protobuf/stubs/stringpiece.h \
 /usr/include/google/protobuf/stubs/hash.h \
 /usr/include/c++/12/unordered_map /usr/include/c++/12/bits/hashtable.h \
 /usr/include/c++/12/bits/hashtable_policy.h \
 /usr/include/c++/12/bits/enable_special_members.h \
 /usr/include/c++/12/bits/unordered_map.h \
 /usr/include/c++/12/unordered_set \
 /usr/include/c++/12/bits/unordered_set.h \
 /usr/include/google/protobuf/stubs/logging.h \
 /usr/include/google/protobuf/stubs/status.h \
 /usr/include/google/protobuf/stubs/strutil.h \
 /usr/include/google/protobuf/port.h /usr/include/google/protobuf/arena.h \
 /usr/include/google/protobuf/arena_impl.h \
 /usr/include/google/protobuf/arenaz_sampler.h \
 /usr/include/google/protobuf/arenastring.h \
 /usr/include/google/protobuf/explicitly_constructed.h \
 /usr/include/google/protobuf/generated_message_util.h \
 /usr/include/google/protobuf/stubs/once.h /usr/include/c++/12/mutex \
 /usr/include/c++/12/bits/chrono.h /usr/include/c++/12/ratio \
 /usr/include/c++/12/ctime /usr/include/c++/12/bits/parse_numbers.h \
 /usr/include/c++/12/bits/std_mutex.h \
 /usr/include/c++/12/bits/unique_lock.h \
 /usr/include/google/protobuf/any.h \
 /usr/include/google/protobuf/message_lite.h \
 /usr/include/google/protobuf/metadata_lite.h \
 /usr/include/google/protobuf/has_bits.h \
 /usr/include/google/protobuf/implicit_weak_message.h \
 /usr/include/google/protobuf/repeated_field.h \
 /usr/include/c++/12/iterator /usr/include/c++/12/bits/stream_iterator.h \
 /usr/include/google/protobuf/repeated_ptr_field.h \
 /usr/include/google/protobuf/wire_format_lite.h \
 /usr/include/google/protobuf/stubs/casts.h \
 /usr/include/google/protobuf/extension_set.h /usr/include/c++/12/cassert \
 /usr/include/google/protobuf/parse_context.h \
 /usr/include/google/protobuf/io/zero_copy_stream.h \
 /usr/include/google/protobuf/endian.h \
 /usr/include/google/protobuf/inlined_string_field.h \
 /usr/include/google/protobuf/generated_enum_util.h \
 /usr/include/phonenumbers/phonenumberutil.h /usr/include/c++/12/list \
 /usr/include/c++/12/bits/stl_list.h /usr/include/c++/12/bits/list.tcc \
 /usr/include/phonenumbers/base/basictypes.h \
 /usr/include/phonenumbers/base/memory/scoped_ptr.h \
 /usr/include/phonenumbers/base/template_util.h \
 /usr/include/phonenumbers/base/memory/singleton.h \
 /usr/include/phonenumbers/base/memory/singleton_posix.h \
 /usr/include/phonenumbers/base/logging.h \
 /usr/include/absl/container/node_hash_set.h \
 /usr/include/absl/algorithm/container.h /usr/include/c++/12/numeric \
 /usr/include/c++/12/bits/stl_numeric.h \
 /usr/include/c++/12/pstl/glue_numeric_defs.h \
 /usr/include/absl/algorithm/algorithm.h /usr/include/absl/base/config.h \
 /usr/include/absl/base/options.h /usr/include/c++/12/ciso646 \
 /usr/include/absl/base/policy_checks.h /usr/include/absl/base/macros.h \
 /usr/include/absl/base/attributes.h \
 /usr/include/absl/base/optimization.h /usr/include/absl/base/port.h \
 /usr/include/absl/meta/type_traits.h /usr/include/c++/12/functional \
 /usr/include/c++/12/bits/std_function.h /usr/include/c++/12/array \
 /usr/include/c++/12/compare \
 /usr/include/absl/container/internal/hash_function_defaults.h \
 /usr/include/absl/hash/hash.h \
 /usr/include/absl/functional/function_ref.h \
 /usr/include/absl/functional/internal/function_ref.h \
 /usr/include/absl/base/internal/invoke.h \
 /usr/include/absl/hash/internal/hash.h /usr/include/c++/12/bitset \
 /usr/include/c++/12/cmath /usr/include/math.h \
 /usr/include/x86_64-linux-gnu/bits/math-vector.h \
 /usr/include/x86_64-linux-gnu/bits/libm-simd-decl-stubs.h \
 /usr/include/x86_64-linux-gnu/bits/flt-eval-method.h \
 /usr/include/x86_64-linux-gnu/bits/fp-logb.h \
 /usr/include/x86_64-linux-gnu/bits/fp-fast.h \
 /usr/include/x86_64-linux-gnu/bits/mathcalls-helper-functions.h \
 /usr/include/x86_64-linux-gnu/bits/mathcalls.h \
 /usr/include/x86_64-linux-gnu/bits/mathcalls-narrow.h \
 /usr/include/x86_64-linux-gnu/bits/iscanonical.h \
 /usr/include/c++/12/bits/specfun.h /usr/include/c++/12/tr1/gamma.tcc \
 /usr/include/c++/12/tr1/special_function_util.h \
 /usr/include/c++/12/tr1/bessel_function.tcc \
 /usr/include/c++/12/tr1/beta_function.tcc \
 /usr/include/c++/12/tr1/ell_integral.tcc \
 /usr/include/c++/12/tr1/exp_integral.tcc \
 /usr/include/c++/12/tr1/hypergeometric.tcc \
 /usr/include/c++/12/tr1/legendre_function.tcc \
 /usr/include/c++/12/tr1/modified_bessel_func.tcc \
 /usr/include/c++/12/tr1/poly_hermite.tcc \
 /usr/include/c++/12/tr1/poly_laguerre.tcc \
 /usr/include/c++/12/tr1/riemann_zeta.tcc /usr/include/c++/12/deque \
 /usr/include/c++/12/bits/stl_deque.h /usr/include/c++/12/bits/deque.tcc \
 /usr/include/c++/12/forward_list /usr/include/c++/12/bits/forward_list.h \
 /usr/include/c++/12/bits/forward_list.tcc \
 /usr/include/absl/base/internal/unaligned_access.h \
 /usr/include/absl/container/fixed_array.h \
 /usr/include/absl/base/dynamic_annotations.h \
 /usr/include/absl/base/internal/dynamic_annotations.h \
 /usr/include/absl/base/internal/throw_delegate.h \
 /usr/include/absl/container/internal/compressed_tuple.h \
 /usr/include/absl/utility/utility.h \
 /usr/include/absl/base/internal/inline_variable.h \
 /usr/include/absl/base/internal/identity.h \
 /usr/include/absl/memory/memory.h /usr/include/absl/hash/internal/city.h \
 /usr/include/absl/hash/internal/low_level_hash.h \
 /usr/include/absl/numeric/int128.h \
 /usr/include/absl/numeric/int128_have_intrinsic.inc \
 /usr/include/absl/strings/string_view.h \
 /usr/include/absl/types/optional.h \
 /usr/include/absl/types/bad_optional_access.h \
 /usr/include/absl/types/internal/optional.h \
 /usr/include/absl/types/variant.h \
 /usr/include/absl/types/internal/variant.h \
 /usr/include/absl/types/bad_variant_access.h \
 /usr/include/absl/strings/cord.h \
 /usr/include/absl/base/internal/endian.h /usr/include/absl/base/casts.h \
 /usr/include/absl/base/internal/per_thread_tls.h \
 /usr/include/absl/container/inlined_vector.h \
 /usr/include/absl/container/internal/inlined_vector.h \
 /usr/include/absl/types/span.h /usr/include/absl/types/internal/span.h \
 /usr/include/absl/strings/cord_analysis.h \
 /usr/include/absl/strings/internal/cord_internal.h \
 /usr/include/absl/strings/cord_buffer.h /usr/include/absl/numeric/bits.h \
 /usr/include/absl/numeric/internal/bits.h \
 /usr/include/absl/strings/internal/cord_rep_flat.h \
 /usr/include/absl/strings/internal/cord_data_edge.h \
 /usr/include/absl/strings/internal/cord_rep_btree.h \
 /usr/include/absl/base/internal/raw_logging.h \
 /usr/include/absl/base/internal/atomic_hook.h \
 /usr/include/absl/base/log_severity.h \
 /usr/include/absl/strings/internal/cord_rep_btree_reader.h \
 /usr/include/absl/strings/internal/cord_rep_btree_navigator.h \
 /usr/include/absl/strings/internal/cord_rep_crc.h \
 /usr/include/absl/strings/internal/cord_rep_ring.h \
 /usr/include/absl/container/internal/layout.h \
 /usr/include/absl/strings/str_cat.h /usr/include/absl/strings/numbers.h \
 /usr/include/c++/12/cxxabi.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/cxxabi_tweaks.h \
 /usr/include/absl/strings/internal/cordz_functions.h \
 /usr/include/absl/strings/internal/cordz_info.h \
 /usr/include/absl/base/internal/spinlock.h \
 /usr/include/absl/base/const_init.h \
 /usr/include/absl/base/internal/low_level_scheduling.h \
 /usr/include/absl/base/internal/scheduling_mode.h \
 /usr/include/absl/base/internal/tsan_mutex_interface.h \
 /usr/include/absl/base/thread_annotations.h \
 /usr/include/absl/base/internal/thread_annotations.h \
 /usr/include/absl/strings/internal/cordz_handle.h \
 /usr/include/absl/synchronization/mutex.h \
 /usr/include/absl/base/internal/low_level_alloc.h \
 /usr/include/absl/base/internal/thread_identity.h /usr/include/unistd.h \
 /usr/include/x86_64-linux-gnu/bits/posix_opt.h \
 /usr/include/x86_64-linux-gnu/bits/environments.h \
 /usr/include/x86_64-linux-gnu/bits/confname.h \
 /usr/include/x86_64-linux-gnu/bits/getopt_posix.h \
 /usr/include/x86_64-linux-gnu/bits/getopt_core.h \
 /usr/include/x86_64-linux-gnu/bits/unistd_ext.h \
 /usr/include/linux/close_range.h \
 /usr/include/absl/synchronization/internal/kernel_timeout.h \
 /usr/include/absl/time/clock.h /usr/include/absl/time/time.h \
 /usr/include/x86_64-linux-gnu/sys/time.h /usr/include/c++/12/chrono \
 /usr/include/absl/time/civil_time.h \
 /usr/include/absl/time/internal/cctz/include/cctz/civil_time.h \
 /usr/include/absl/time/internal/cctz/include/cctz/civil_time_detail.h \
 /usr/include/absl/time/internal/cctz/include/cctz/time_zone.h \
 /usr/include/absl/synchronization/internal/per_thread_sem.h \
 /usr/include/absl/synchronization/internal/create_thread_identity.h \
 /usr/include/absl/strings/internal/cordz_statistics.h \
 /usr/include/absl/strings/internal/cordz_update_tracker.h \
 /usr/include/absl/strings/internal/cordz_update_scope.h \
 /usr/include/absl/strings/internal/resize_uninitialized.h \
 /usr/include/absl/strings/internal/string_constant.h \
 /usr/include/absl/container/internal/node_slot_policy.h \
 /usr/include/absl/container/internal/raw_hash_set.h \
 /usr/include/absl/base/internal/prefetch.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xmmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mm_malloc.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/emmintrin.h \
 /usr/include/absl/container/internal/common.h \
 /usr/include/absl/container/internal/container_memory.h \
 /usr/include/absl/container/internal/hash_policy_traits.h \
 /usr/include/absl/container/internal/hashtable_debug_hooks.h \
 /usr/include/absl/container/internal/hashtablez_sampler.h \
 /usr/include/absl/profiling/internal/sample_recorder.h \
 /usr/include/absl/container/node_hash_map.h \
 /usr/include/absl/container/internal/raw_hash_map.h
