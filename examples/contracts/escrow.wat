;; Interbank settlement escrow (docs/contracts.md).
;;
;; One member's operator opens an escrow for a settlement owed to a counterparty member; the
;; counterparty (or a contract steward) releases it once the settlement went through; after the
;; deadline, the depositing member may take it back (refund). The contract records the obligation and
;; its state; it does not move ledger balances (the host API gives contracts their own storage only).
;;
;; Functions (the manifest, escrow.toml, says who may call each):
;;   deposit  input: id u64 LE | amount u64 LE | deadline_ms u64 LE | counterparty member id (1-64 bytes)
;;   release  input: id u64 LE     the counterparty member's operator, or a contract steward
;;   refund   input: id u64 LE     the depositor's member, from the deadline on (block time)
;;   get      input: id u64 LE     read-only; output: the 147-byte record below
;;
;; Record (storage key "e" | id, 147 bytes):
;;   0 state u8 (0 open, 1 released, 2 refunded) | 1 amount u64 | 9 deadline_ms u64 |
;;   17 depositor length u8 | 18 depositor member (64) | 82 counterparty length u8 | 83 counterparty (64)
;; Events: "deposited" | "released" | "refunded", followed by the id (u64 LE).
;;
;; Memory: 0-255 messages, 512 input, 1024 record, 2048 caller's member, 3072 key, 3200 event.
(module
  (import "covenant" "input_len" (func $input_len (result i32)))
  (import "covenant" "input_read" (func $input_read (param i32)))
  (import "covenant" "output_write" (func $output_write (param i32 i32)))
  (import "covenant" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "covenant" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "covenant" "caller_member" (func $caller_member (param i32 i32) (result i32)))
  (import "covenant" "caller_has_role" (func $caller_has_role (param i32) (result i32)))
  (import "covenant" "block_timestamp_ms" (func $block_timestamp_ms (result i64)))
  (import "covenant" "emit_event" (func $emit_event (param i32 i32)))
  (import "covenant" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1)

  (data (i32.const 0) "bad input")                           ;; 9
  (data (i32.const 16) "escrow exists")                      ;; 13
  (data (i32.const 32) "no such escrow")                     ;; 14
  (data (i32.const 48) "escrow is closed")                   ;; 16
  (data (i32.const 64) "not the counterparty or a steward")  ;; 33
  (data (i32.const 112) "not the depositor")                 ;; 17
  (data (i32.const 144) "deadline not reached")              ;; 20
  (data (i32.const 176) "released")                          ;; 8
  (data (i32.const 192) "refunded")                          ;; 8
  (data (i32.const 208) "deposited")                         ;; 9

  (func $fail (param $message i32) (param $len i32)
    (call $abort (local.get $message) (local.get $len))
    (unreachable))

  ;; Reads the input to 512; aborts unless its length lies in [min, max]. Returns the length.
  (func $read_input (param $min i32) (param $max i32) (result i32)
    (local $len i32)
    (local.set $len (call $input_len))
    (if (i32.or (i32.lt_u (local.get $len) (local.get $min)) (i32.gt_u (local.get $len) (local.get $max)))
      (then (call $fail (i32.const 0) (i32.const 9))))
    (call $input_read (i32.const 512))
    (local.get $len))

  ;; The storage key "e" | id at 3072 (9 bytes).
  (func $key
    (i32.store8 (i32.const 3072) (i32.const 101))
    (i64.store (i32.const 3073) (i64.load (i32.const 512))))

  ;; Loads the record to 1024; aborts if there is none.
  (func $load
    (if (i32.ne (call $storage_get (i32.const 3072) (i32.const 9) (i32.const 1024) (i32.const 147)) (i32.const 147))
      (then (call $fail (i32.const 32) (i32.const 14)))))

  (func $store
    (call $storage_set (i32.const 3072) (i32.const 9) (i32.const 1024) (i32.const 147)))

  ;; Aborts unless the escrow is open.
  (func $require_open
    (if (i32.ne (i32.load8_u (i32.const 1024)) (i32.const 0))
      (then (call $fail (i32.const 48) (i32.const 16)))))

  ;; The caller's member id at 2048; returns its length, 0 if the caller is not an operator.
  (func $member (result i32)
    (local $len i32)
    (local.set $len (call $caller_member (i32.const 2048) (i32.const 64)))
    (if (i32.lt_s (local.get $len) (i32.const 0)) (then (return (i32.const 0))))
    (local.get $len))

  ;; Whether $len bytes at $a and $b are equal.
  (func $equal (param $a i32) (param $b i32) (param $len i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; Whether the caller's member is the member stored at $at (a length byte, then the id).
  (func $caller_is (param $at i32) (result i32)
    (local $len i32)
    (local.set $len (call $member))
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (if (i32.ne (local.get $len) (i32.load8_u (local.get $at))) (then (return (i32.const 0))))
    (call $equal (i32.const 2048) (i32.add (local.get $at) (i32.const 1)) (local.get $len)))

  ;; Emits the word at $word ($len bytes) followed by the escrow id.
  (func $event (param $word i32) (param $len i32)
    (memory.copy (i32.const 3200) (local.get $word) (local.get $len))
    (i64.store (i32.add (i32.const 3200) (local.get $len)) (i64.load (i32.const 512)))
    (call $emit_event (i32.const 3200) (i32.add (local.get $len) (i32.const 8))))

  (func (export "deposit")
    (local $len i32)
    (local $depositor i32)
    (local $counterparty i32)
    (local.set $len (call $read_input (i32.const 25) (i32.const 88)))
    (if (i64.eqz (i64.load (i32.const 520))) (then (call $fail (i32.const 0) (i32.const 9))))
    (call $key)
    (if (i32.ge_s (call $storage_get (i32.const 3072) (i32.const 9) (i32.const 1024) (i32.const 0)) (i32.const 0))
      (then (call $fail (i32.const 16) (i32.const 13))))
    (i32.store8 (i32.const 1024) (i32.const 0))
    (i64.store (i32.const 1025) (i64.load (i32.const 520)))
    (i64.store (i32.const 1033) (i64.load (i32.const 528)))
    (local.set $depositor (call $member))
    (i32.store8 (i32.const 1041) (local.get $depositor))
    (memory.copy (i32.const 1042) (i32.const 2048) (local.get $depositor))
    (local.set $counterparty (i32.sub (local.get $len) (i32.const 24)))
    (i32.store8 (i32.const 1106) (local.get $counterparty))
    (memory.copy (i32.const 1107) (i32.const 536) (local.get $counterparty))
    (call $store)
    (call $event (i32.const 208) (i32.const 9)))

  (func (export "release")
    (drop (call $read_input (i32.const 8) (i32.const 8)))
    (call $key)
    (call $load)
    (call $require_open)
    (if (i32.eqz (i32.or (call $caller_is (i32.const 1106)) (call $caller_has_role (i32.const 3))))
      (then (call $fail (i32.const 64) (i32.const 33))))
    (i32.store8 (i32.const 1024) (i32.const 1))
    (call $store)
    (call $event (i32.const 176) (i32.const 8)))

  (func (export "refund")
    (drop (call $read_input (i32.const 8) (i32.const 8)))
    (call $key)
    (call $load)
    (call $require_open)
    (if (i32.eqz (call $caller_is (i32.const 1041)))
      (then (call $fail (i32.const 112) (i32.const 17))))
    (if (i64.lt_u (call $block_timestamp_ms) (i64.load (i32.const 1033)))
      (then (call $fail (i32.const 144) (i32.const 20))))
    (i32.store8 (i32.const 1024) (i32.const 2))
    (call $store)
    (call $event (i32.const 192) (i32.const 8)))

  (func (export "get")
    (drop (call $read_input (i32.const 8) (i32.const 8)))
    (call $key)
    (call $load)
    (call $output_write (i32.const 1024) (i32.const 147))))
