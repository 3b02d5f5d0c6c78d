;; KYC data-sharing registry (docs/contracts.md).
;;
;; Members share KYC results about common customers: a member's submitter publishes an entry under a
;; key (for instance a customer reference agreed between the banks) whose value is whatever the members
;; agreed to share (a digest of the KYC evidence, a risk grade, an expiry). Each entry belongs to the
;; member that wrote it: only that member's operators may overwrite or remove it. Who may write and
;; who may read is the manifest's access policy (registry.toml): only submitters write (the gate), and
;; reads are open to submitters and auditors.
;;
;; Functions:
;;   put     input: key length u8 (1-64) | key | value (1-1024 bytes)
;;   remove  input: key (1-64 bytes)
;;   get     input: key (1-64 bytes); read-only; output: member length u8 | member id | value
;; Storage: "r" | key -> member length u8 | member id | value.  Events: "put " | key, "removed " | key.
;;
;; Memory: 0-255 messages, 2048 caller's member, 3072 key, 4096 input, 8192 entry, 12288 event.
(module
  (import "covenant" "input_len" (func $input_len (result i32)))
  (import "covenant" "input_read" (func $input_read (param i32)))
  (import "covenant" "output_write" (func $output_write (param i32 i32)))
  (import "covenant" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "covenant" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "covenant" "storage_remove" (func $storage_remove (param i32 i32)))
  (import "covenant" "caller_member" (func $caller_member (param i32 i32) (result i32)))
  (import "covenant" "emit_event" (func $emit_event (param i32 i32)))
  (import "covenant" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1)

  (data (i32.const 0) "bad input")                         ;; 9
  (data (i32.const 16) "no entry")                         ;; 8
  (data (i32.const 32) "entry belongs to another member")  ;; 31
  (data (i32.const 80) "put ")                             ;; 4
  (data (i32.const 96) "removed ")                         ;; 8

  (func $fail (param $message i32) (param $len i32)
    (call $abort (local.get $message) (local.get $len))
    (unreachable))

  ;; Reads the input to 4096; aborts unless its length lies in [min, max]. Returns the length.
  (func $read_input (param $min i32) (param $max i32) (result i32)
    (local $len i32)
    (local.set $len (call $input_len))
    (if (i32.or (i32.lt_u (local.get $len) (local.get $min)) (i32.gt_u (local.get $len) (local.get $max)))
      (then (call $fail (i32.const 0) (i32.const 9))))
    (call $input_read (i32.const 4096))
    (local.get $len))

  ;; The storage key "r" | key at 3072, from $len bytes at $from.
  (func $key (param $from i32) (param $len i32)
    (i32.store8 (i32.const 3072) (i32.const 114))
    (memory.copy (i32.const 3073) (local.get $from) (local.get $len)))

  ;; The entry of the key at 3072 ($len key bytes) to 8192; returns its length or -1.
  (func $entry (param $len i32) (result i32)
    (call $storage_get (i32.const 3072) (i32.add (local.get $len) (i32.const 1)) (i32.const 8192) (i32.const 1089)))

  ;; The caller's member id at 2048; returns its length, 0 if the caller is not an operator.
  (func $member (result i32)
    (local $len i32)
    (local.set $len (call $caller_member (i32.const 2048) (i32.const 64)))
    (if (i32.lt_s (local.get $len) (i32.const 0)) (then (return (i32.const 0))))
    (local.get $len))

  ;; Aborts unless the entry at 8192 belongs to the caller's member.
  (func $require_owner
    (local $len i32)
    (local $i i32)
    (local.set $len (call $member))
    (if (i32.or (i32.eqz (local.get $len)) (i32.ne (local.get $len) (i32.load8_u (i32.const 8192))))
      (then (call $fail (i32.const 32) (i32.const 31))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (i32.const 2048) (local.get $i)))
                    (i32.load8_u (i32.add (i32.const 8193) (local.get $i))))
          (then (call $fail (i32.const 32) (i32.const 31))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; Emits the word at $word ($len bytes) followed by the key at 3073 ($key_len bytes).
  (func $event (param $word i32) (param $len i32) (param $key_len i32)
    (memory.copy (i32.const 12288) (local.get $word) (local.get $len))
    (memory.copy (i32.add (i32.const 12288) (local.get $len)) (i32.const 3073) (local.get $key_len))
    (call $emit_event (i32.const 12288) (i32.add (local.get $len) (local.get $key_len))))

  (func (export "put")
    (local $len i32)
    (local $key_len i32)
    (local $value_len i32)
    (local $member_len i32)
    (local.set $len (call $read_input (i32.const 3) (i32.const 1089)))
    (local.set $key_len (i32.load8_u (i32.const 4096)))
    (if (i32.or (i32.eqz (local.get $key_len)) (i32.gt_u (local.get $key_len) (i32.const 64)))
      (then (call $fail (i32.const 0) (i32.const 9))))
    (if (i32.ge_u (i32.add (local.get $key_len) (i32.const 1)) (local.get $len))
      (then (call $fail (i32.const 0) (i32.const 9))))
    (local.set $value_len (i32.sub (local.get $len) (i32.add (local.get $key_len) (i32.const 1))))
    (if (i32.gt_u (local.get $value_len) (i32.const 1024)) (then (call $fail (i32.const 0) (i32.const 9))))
    (call $key (i32.const 4097) (local.get $key_len))
    (if (i32.ge_s (call $entry (local.get $key_len)) (i32.const 0)) (then (call $require_owner)))
    (local.set $member_len (call $member))
    (i32.store8 (i32.const 8192) (local.get $member_len))
    (memory.copy (i32.const 8193) (i32.const 2048) (local.get $member_len))
    (memory.copy
      (i32.add (i32.const 8193) (local.get $member_len))
      (i32.add (i32.const 4097) (local.get $key_len))
      (local.get $value_len))
    (call $storage_set
      (i32.const 3072) (i32.add (local.get $key_len) (i32.const 1))
      (i32.const 8192) (i32.add (i32.add (local.get $member_len) (i32.const 1)) (local.get $value_len)))
    (call $event (i32.const 80) (i32.const 4) (local.get $key_len)))

  (func (export "remove")
    (local $key_len i32)
    (local.set $key_len (call $read_input (i32.const 1) (i32.const 64)))
    (call $key (i32.const 4096) (local.get $key_len))
    (if (i32.lt_s (call $entry (local.get $key_len)) (i32.const 0)) (then (call $fail (i32.const 16) (i32.const 8))))
    (call $require_owner)
    (call $storage_remove (i32.const 3072) (i32.add (local.get $key_len) (i32.const 1)))
    (call $event (i32.const 96) (i32.const 8) (local.get $key_len)))

  (func (export "get")
    (local $key_len i32)
    (local $len i32)
    (local.set $key_len (call $read_input (i32.const 1) (i32.const 64)))
    (call $key (i32.const 4096) (local.get $key_len))
    (local.set $len (call $entry (local.get $key_len)))
    (if (i32.lt_s (local.get $len) (i32.const 0)) (then (call $fail (i32.const 16) (i32.const 8))))
    (call $output_write (i32.const 8192) (local.get $len))))
