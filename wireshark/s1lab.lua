-- s1lab WAN protocol v1: a Wireshark dissector (Lua, Wireshark >= 3.6).
--
-- Copyright (C) s1lab contributors. SPDX-License-Identifier: GPL-2.0-or-later
--
-- The protocol is described in s1lab's docs/wan-protocol.md: stream records (u16 length, then a
-- frame) inside mutual TLS. The dissector registers itself for the TLS ALPN name "s1lab/1", which
-- s1lab's CHF and head-ends negotiate, so decrypted WAN TLS is decoded without "Decode As".
--
-- Use in place:   tshark -X lua_script:s1lab.lua -r capture.pcapng -Y s1lab
-- Install:        s1lab wireshark install   (copies this file to the personal Lua plugin folder)

local ALPN = "s1lab/1"
local HEADER_SIZE = 28
local MAC_SIZE = 16
local MAX_RECORD = 2048

local s1lab = Proto("s1lab", "s1lab WAN protocol v1")

-- ---- value names (emulator/wire/vocabulary.py) ------------------------------------------------

local REQUESTS = {
  [0x01] = "READ_INSTANTANEOUS", [0x02] = "READ_INVENTORY", [0x03] = "READ_FIRMWARE_VERSIONS",
  [0x04] = "READ_EVENT_LOG", [0x05] = "READ_PAYMENT_MODE", [0x06] = "SET_PAYMENT_MODE",
  [0x07] = "TOP_UP", [0x08] = "READ_TIME", [0x09] = "SET_TIME", [0x0A] = "SET_SUPPLY",
  [0x0B] = "UPDATE_HAN_DEVICE_LOG", [0x20] = "ROTATE_KEYS", [0x21] = "ROLLBACK",
  [0x22] = "READ_SECURITY_STATE", [0x30] = "SWAP_CERTIFICATE", [0x40] = "MOVE_SIM",
  [0x50] = "FIRMWARE_SEGMENT", [0x51] = "DISTRIBUTE_FIRMWARE", [0x52] = "READ_FIRMWARE_TRANSFER",
  [0x53] = "ACTIVATE_FIRMWARE",
}
local MSG_TYPES = { [0x7F] = "ERROR" }
for code, name in pairs(REQUESTS) do
  MSG_TYPES[code] = name
  MSG_TYPES[code + 0x80] = name .. "_RESPONSE"
end
local ROLES = { [0x01] = "SMSO", [0x02] = "S1SP", [0x10] = "CHF" }
local DEVICE_TYPES = { [1] = "CHF", [2] = "ESME", [3] = "GSME", [4] = "PPMID", [5] = "IHD" }
local PAYMENT_MODES = { [0] = "CREDIT", [1] = "PREPAYMENT" }
local SUPPLY_STATES = { [0] = "ENABLED", [1] = "DISABLED", [2] = "ARMED" }
local SUPPLY_ACTIONS = { [0] = "ENABLE", [1] = "DISABLE", [2] = "ARM" }
local LOG_STATES = { [0] = "WHITELISTED", [1] = "JOINED", [2] = "REMOVED" }
local TOP_UP_STATUS = {
  [0] = "ACCEPTED", [1] = "MALFORMED", [2] = "INVALID", [3] = "ALREADY_USED",
  [4] = "EXCEEDS_MAX_CREDIT", [5] = "LOCKED_OUT", [6] = "DEVICE_NOT_SUPPORTED",
}
local LOG_ACTIONS = { [0] = "ADD", [1] = "REMOVE" }
local LOG_STATUS = {
  [0] = "DONE", [1] = "ALREADY_PRESENT", [2] = "NOT_PRESENT", [3] = "INVALID_INSTALL_CODE",
  [4] = "LOG_FULL", [5] = "NOT_ALLOWED",
}
local ERROR_CODES = {
  [0x01] = "MALFORMED", [0x02] = "UNSUPPORTED_VERSION", [0x03] = "UNKNOWN_ROLE",
  [0x04] = "UNKNOWN_KEY", [0x05] = "BAD_MAC", [0x06] = "REPLAYED_COUNTER",
  [0x07] = "UNKNOWN_DEVICE", [0x08] = "UNSUPPORTED_COMMAND", [0x09] = "INVALID_ARGUMENT",
  [0x0A] = "DEVICE_UNREACHABLE", [0x0B] = "OPERATION_FAILED", [0x0C] = "INTERNAL_ERROR",
}
local EVENT_CODES = {
  [0x0001] = "POWER_ON", [0x0002] = "CLOCK_ADJUSTED", [0x0010] = "PAYMENT_MODE_CHANGED",
  [0x0011] = "TOP_UP_ACCEPTED", [0x0012] = "TOP_UP_REJECTED", [0x0013] = "UTRN_LOCKOUT",
  [0x0014] = "LOW_CREDIT", [0x0015] = "EMERGENCY_CREDIT_AVAILABLE",
  [0x0016] = "EMERGENCY_CREDIT_ACTIVATED", [0x0017] = "EMERGENCY_CREDIT_EXHAUSTED",
  [0x0018] = "CREDIT_EXHAUSTED", [0x0020] = "SUPPLY_ENABLED", [0x0021] = "SUPPLY_DISABLED",
  [0x0022] = "SUPPLY_ARMED", [0x0030] = "FIRMWARE_ACTIVATED", [0x0040] = "WAN_FRAME_REJECTED",
  [0x0050] = "HAN_DEVICE_ADDED", [0x0051] = "HAN_DEVICE_REMOVED", [0x0052] = "HAN_DEVICE_JOINED",
}
local TRANSFER_STATES = {
  [0] = "NONE", [1] = "OFFERED", [2] = "DOWNLOADING", [3] = "DOWNLOADED",
  [4] = "ACTIVATION_SCHEDULED", [5] = "ACTIVATED", [6] = "REFUSED", [7] = "FAILED",
}
-- The ZigBee OTA statuses a firmware transfer reports (emulator/wire/zcl.py Status).
local OTA_STATUS = { [0x00] = "SUCCESS", [0x95] = "ABORT", [0x96] = "INVALID_IMAGE",
                     [0x98] = "NO_IMAGE_AVAILABLE" }
-- DISTRIBUTE_FIRMWARE activate_at and ACTIVATE_FIRMWARE at: ZigBee UTC, or one of these.
local ACTIVATE_AT = { [0] = "on arrival", [0xFFFFFFFF] = "on ACTIVATE_FIRMWARE" }
local ACTIVATE_NOW = { [0] = "now" }
local BOOLS = { [0] = "false", [1] = "true" }
local KEY_IDS = { [0] = "unauthenticated", [0xFF] = "Master Key" }

-- ---- fields -------------------------------------------------------------------------------------

local F = {}
local function field(abbr, ctor, name, ...)
  F[abbr] = ctor("s1lab." .. abbr, name, ...)
end
local PF = ProtoField

field("record_length", PF.uint16, "Record length", base.DEC)
field("magic", PF.bytes, "Magic")
field("version", PF.uint8, "Version", base.DEC)
field("type", PF.uint8, "Message type", base.HEX, MSG_TYPES)
field("txn", PF.uint32, "Transaction id", base.DEC)
field("device", PF.eui64, "Device (target or answering device)")
field("role", PF.uint8, "Sender role", base.HEX, ROLES)
field("key_id", PF.uint8, "Key id", base.DEC)
field("counter", PF.uint64, "Counter", base.DEC)
field("length", PF.uint16, "Payload length", base.DEC)
field("payload", PF.bytes, "Payload")
field("mac", PF.bytes, "AES-CMAC")

-- Payload layouts: each item is {kind, field abbreviation (under s1lab.<message>.), name, values}.
-- kinds: u8 u16 u32 i32 u64 i64 eui (8 bytes) str8 (u8 count + UTF-8) ascii20 bytes32 bytes40 blob8 /
-- blob16 (u8 / u16 count + bytes); list8/list16 {count, entry layout}; tou (u8 count + u64 each).
local LAYOUTS = {}
local PREFIX = {}

local function declare(prefix, items)
  for _, item in ipairs(items) do
    local kind, abbr, name, values = item[1], prefix .. "." .. item[2], item[3], item[4]
    if kind == "u8" then field(abbr, PF.uint8, name, values and base.HEX or base.DEC, values)
    elseif kind == "u16" then field(abbr, PF.uint16, name, values and base.HEX or base.DEC, values)
    elseif kind == "u32" then field(abbr, PF.uint32, name, base.DEC, values)
    elseif kind == "i32" then field(abbr, PF.int32, name, base.DEC)
    elseif kind == "u64" then field(abbr, PF.uint64, name, base.DEC)
    elseif kind == "i64" then field(abbr, PF.int64, name, base.DEC)
    elseif kind == "eui" then field(abbr, PF.eui64, name)
    elseif kind == "str8" or kind == "ascii20" then field(abbr, PF.string, name)
    elseif kind == "bytes32" or kind == "bytes40" or kind == "blob8" or kind == "blob16" then
      field(abbr, PF.bytes, name)
    elseif kind == "tou" then
      field(abbr .. "_count", PF.uint8, name .. ": count", base.DEC)
      field(abbr, PF.uint64, name, base.DEC)
    elseif kind == "list8" or kind == "list16" then
      field(abbr .. "_count", kind == "list8" and PF.uint8 or PF.uint16, name .. ": count",
            base.DEC)
      declare(abbr, values)
    end
  end
end

local function layout(prefix, items)
  declare(prefix, items)
  PREFIX[items] = prefix
  return items
end

local ESME = layout("esme", {
  {"u8", "device_type", "Device type", DEVICE_TYPES},
  {"u32", "meter_time", "Meter time (ZigBee UTC)"},
  {"u64", "import_wh", "Import (Wh)"},
  {"tou", "tou_wh", "Time-of-use register (Wh)"},
  {"i32", "demand_w", "Demand (W)"},
  {"u8", "payment_mode", "Payment mode", PAYMENT_MODES},
  {"i64", "balance_pence", "Balance (p)"},
  {"u32", "emergency_credit_limit_pence", "Emergency credit limit (p)"},
  {"u32", "emergency_credit_available_pence", "Emergency credit available (p)"},
  {"u8", "emergency_credit_in_use", "Emergency credit in use", BOOLS},
  {"u8", "supply_state", "Supply state", SUPPLY_STATES},
})
local GSME = layout("gsme", {
  {"u8", "device_type", "Device type", DEVICE_TYPES},
  {"u32", "meter_time", "Meter time (ZigBee UTC)"},
  {"u64", "volume_dm3", "Volume (dm3)"},
  {"u32", "flow_dm3_per_h", "Flow (dm3/h)"},
  {"u8", "payment_mode", "Payment mode", PAYMENT_MODES},
  {"i64", "balance_pence", "Balance (p)"},
  {"u8", "supply_state", "Supply (valve) state", SUPPLY_STATES},
  {"u32", "data_age_s", "Mirror data age (s)"},
})
-- A meter on a radio: only the Metering cluster's attributes (layout byte = device type | 0x80).
local METERING_ONLY_TYPES = { [0x82] = "ESME", [0x83] = "GSME" }
local ESME_METERING = layout("esme_metering", {
  {"u8", "device_type", "Device type (Metering only)", METERING_ONLY_TYPES},
  {"u64", "import_wh", "Import (Wh), CurrentSummationDelivered"},
  {"i32", "demand_w", "Demand (W), InstantaneousDemand"},
  {"u8", "status", "Metering status"},
})
local GSME_METERING = layout("gsme_metering", {
  {"u8", "device_type", "Device type (Metering only)", METERING_ONLY_TYPES},
  {"u64", "volume_dm3", "Volume (dm3), CurrentSummationDelivered"},
  {"u32", "flow_dm3_per_h", "Flow (dm3/h), InstantaneousDemand"},
  {"u32", "data_age_s", "Mirror data age (s)"},
})
local SECURITY_STATE = layout("security_state", {
  {"u8", "owner", "Owner", ROLES},
  {"u8", "key_id", "Key id"},
  {"u8", "anchor", "Trust anchor", ROLES},
  {"str8", "apn", "APN"},
  {"str8", "service_profile", "Service profile"},
  {"str8", "previous_apn", "Previous APN"},
  {"u8", "can_roll_back", "Can roll back", BOOLS},
})
local PAYMENT = layout("payment", {
  {"u8", "payment_mode", "Payment mode", PAYMENT_MODES},
  {"i64", "balance_pence", "Balance (p)"},
  {"u32", "emergency_credit_limit_pence", "Emergency credit limit (p)"},
  {"u32", "emergency_credit_available_pence", "Emergency credit available (p)"},
  {"u8", "emergency_credit_in_use", "Emergency credit in use", BOOLS},
  {"u32", "debt_pence", "Debt (p)"},
  {"u8", "supply_state", "Supply state", SUPPLY_STATES},
})
local FIRMWARE_TRANSFER = layout("firmware_transfer", {
  {"u8", "state", "State", TRANSFER_STATES},
  {"u8", "ota_status", "OTA status", OTA_STATUS},
  {"str8", "version", "Image version"},
  {"str8", "running", "Running version"},
  {"u32", "offset", "Bytes taken by the device"},
  {"u32", "size", "Image size"},
  {"str8", "reason", "Reason"},
})
local EMPTY = {}

-- By message type: the request layouts and the response layouts (ESME or GSME picked by the
-- reading's first byte).
local REQUEST_LAYOUT = {
  [0x01] = EMPTY, [0x02] = EMPTY, [0x03] = EMPTY,
  [0x04] = layout("event_log_request", { {"u8", "max_entries", "Max entries (0 = all)"} }),
  [0x05] = EMPTY,
  [0x06] = layout("set_payment_mode", { {"u8", "payment_mode", "Payment mode", PAYMENT_MODES} }),
  [0x07] = layout("top_up", { {"ascii20", "utrn", "UTRN"} }),
  [0x08] = EMPTY,
  [0x09] = layout("set_time", { {"u32", "utc", "Time (ZigBee UTC)"} }),
  [0x0A] = layout("set_supply", { {"u8", "action", "Action", SUPPLY_ACTIONS} }),
  [0x0B] = layout("device_log_update", {
    {"u8", "action", "Action", LOG_ACTIONS},
    {"eui", "eui", "Device"},
    {"u8", "device_type", "Device type", DEVICE_TYPES},
    {"blob8", "install_code", "Install code and CRC"},
    {"u16", "join_window_s", "Join window (s)"},
    {"str8", "mpxn", "MPxN"},
  }),
  [0x20] = layout("rotate_keys", {
    {"u8", "new_owner", "New owner", ROLES},
    {"u8", "key_id", "New key id"},
    {"bytes40", "wrapped_keys", "Wrapped keys (AES key wrap)"},
  }),
  [0x21] = layout("rollback", { {"str8", "apn", "APN"}, {"str8", "service_profile", "Service profile"} }),
  [0x22] = EMPTY,
  [0x30] = layout("swap_certificate", {
    {"u8", "role", "Role", ROLES},
    {"blob16", "ca_certificate", "CA certificate (DER)"},
  }),
  [0x40] = layout("move_sim", { {"str8", "apn", "APN"}, {"str8", "service_profile", "Service profile"} }),
  [0x50] = layout("firmware_segment", {
    {"u32", "offset", "Offset in the image"}, {"u32", "total_size", "Image size"},
    {"blob16", "data", "Image data"},
  }),
  [0x51] = layout("distribute_firmware", {
    {"u32", "activate_at", "Activate at (ZigBee UTC)", ACTIVATE_AT},
    {"bytes32", "sha256", "Image SHA-256"},
  }),
  [0x52] = EMPTY,
  [0x53] = layout("activate_firmware", { {"u32", "at", "Activate at (ZigBee UTC)", ACTIVATE_NOW} }),
}
local RESPONSE_LAYOUT = {
  [0x82] = layout("inventory", {
    {"str8", "apn", "APN"}, {"str8", "service_profile", "Service profile"},
    {"str8", "iccid", "ICCID"}, {"u32", "last_wan_contact", "Last WAN contact (ZigBee UTC)"},
    {"list8", "entry", "Device log entry", {
      {"eui", "eui", "Device"}, {"u8", "device_type", "Device type", DEVICE_TYPES},
      {"u8", "state", "State", LOG_STATES}, {"u32", "last_heard", "Last heard (ZigBee UTC)"},
    }},
  }),
  [0x83] = layout("firmware", {
    {"list8", "entry", "Firmware entry", {
      {"eui", "eui", "Device"}, {"u8", "device_type", "Device type", DEVICE_TYPES},
      {"str8", "version", "Version"},
    }},
  }),
  [0x84] = layout("event_log", {
    {"list16", "entry", "Event", {
      {"u32", "time", "Time (ZigBee UTC)"}, {"u16", "code", "Event code", EVENT_CODES},
      {"i32", "value", "Value"},
    }},
  }),
  [0x85] = PAYMENT, [0x86] = PAYMENT,
  [0x87] = layout("top_up_result", {
    {"u8", "status", "Status", TOP_UP_STATUS}, {"u32", "amount_pence", "Amount (p)"},
    {"i64", "balance_pence", "Balance after (p)"},
  }),
  [0x88] = layout("time", { {"u32", "utc", "Time (ZigBee UTC)"} }),
  [0x89] = layout("set_time_result", {
    {"u32", "previous_utc", "Previous time (ZigBee UTC)"}, {"u32", "utc", "Time (ZigBee UTC)"},
  }),
  [0x8A] = layout("supply_result", { {"u8", "supply_state", "Supply state", SUPPLY_STATES} }),
  [0x8B] = layout("device_log_updated", {
    {"u8", "status", "Status", LOG_STATUS}, {"u8", "entries", "Entries in the log"},
  }),
  [0xA0] = SECURITY_STATE, [0xA1] = SECURITY_STATE, [0xA2] = SECURITY_STATE,
  [0xB0] = SECURITY_STATE, [0xC0] = SECURITY_STATE,
  [0xD0] = layout("firmware_segment_ack", {
    {"u32", "received", "Bytes held"}, {"u32", "total_size", "Image size"},
  }),
  [0xD1] = FIRMWARE_TRANSFER, [0xD2] = FIRMWARE_TRANSFER, [0xD3] = FIRMWARE_TRANSFER,
  [0x7F] = layout("error", {
    {"u8", "error_code", "Error code", ERROR_CODES},
    {"u8", "request_msg_type", "Rejected request type", MSG_TYPES},
    {"str8", "detail", "Detail"},
  }),
}
local INSTANTANEOUS = { [2] = ESME, [3] = GSME, [0x82] = ESME_METERING, [0x83] = GSME_METERING }

local E = {
  malformed = ProtoExpert.new("s1lab.malformed", "Malformed s1lab frame",
                              expert.group.MALFORMED, expert.severity.ERROR),
  record = ProtoExpert.new("s1lab.record_length.bad", "Record length not in 1..2048 (stream lost)",
                           expert.group.MALFORMED, expert.severity.ERROR),
  unknown = ProtoExpert.new("s1lab.type.unknown", "Message type with no v1 payload layout",
                            expert.group.UNDECODED, expert.severity.NOTE),
  unauth = ProtoExpert.new("s1lab.unauthenticated", "Unauthenticated frame (key id 0)",
                           expert.group.SECURITY, expert.severity.CHAT),
}
local fields = {}
for _, f in pairs(F) do fields[#fields + 1] = f end
s1lab.fields = fields
s1lab.experts = { E.malformed, E.record, E.unknown, E.unauth }

-- ---- payload walker -------------------------------------------------------------------------------

local SIZES = { u8 = 1, u16 = 2, u32 = 4, i32 = 4, u64 = 8, i64 = 8, eui = 8, ascii20 = 20,
                bytes32 = 32, bytes40 = 40 }

-- Adds the items of ``items`` from ``pos``; returns the next position, or nil when the bytes run
-- out (the caller flags the payload malformed).
local function walk(tvb, pos, stop, tree, prefix, items)
  for _, item in ipairs(items) do
    local kind, abbr = item[1], prefix .. "." .. item[2]
    local size = SIZES[kind]
    if size then
      if pos + size > stop then return nil end
      tree:add(F[abbr], tvb(pos, size))
      pos = pos + size
    elseif kind == "str8" or kind == "blob8" or kind == "blob16" then
      local width = kind == "blob16" and 2 or 1
      if pos + width > stop then return nil end
      local n = tvb(pos, width):uint()
      if pos + width + n > stop then return nil end
      if n > 0 and kind == "str8" then
        tree:add_packet_field(F[abbr], tvb(pos + width, n), ENC_UTF_8)
      elseif n > 0 then
        tree:add(F[abbr], tvb(pos + width, n))
      else
        tree:add(F[abbr], tvb(pos, width), kind == "str8" and "" or ByteArray.new())
      end
      pos = pos + width + n
    elseif kind == "tou" then
      if pos + 1 > stop then return nil end
      local n = tvb(pos, 1):uint()
      tree:add(F[abbr .. "_count"], tvb(pos, 1))
      pos = pos + 1
      if pos + 8 * n > stop then return nil end
      for _ = 1, n do
        tree:add(F[abbr], tvb(pos, 8))
        pos = pos + 8
      end
    elseif kind == "list8" or kind == "list16" then
      local width = kind == "list8" and 1 or 2
      if pos + width > stop then return nil end
      local n = tvb(pos, width):uint()
      tree:add(F[abbr .. "_count"], tvb(pos, width))
      pos = pos + width
      for i = 1, n do
        local start = pos
        local sub = tree:add(s1lab, tvb(pos, 0), string.format("%s %d", item[3], i))
        pos = walk(tvb, pos, stop, sub, abbr, item[4])
        if pos == nil then return nil end
        sub:set_len(pos - start)
      end
    end
  end
  return pos
end

local function payload_layout(msg_type, tvb, pos, n)
  if msg_type == 0x81 then
    if n == 0 then return nil end
    return INSTANTANEOUS[tvb(pos, 1):uint()]
  end
  if msg_type < 0x80 and msg_type ~= 0x7F then return REQUEST_LAYOUT[msg_type] end
  return RESPONSE_LAYOUT[msg_type]
end

-- ---- one frame ----------------------------------------------------------------------------------

local function dissect_frame(tvb, pos, size, tree, summary)
  local item = tree:add(s1lab, tvb(pos - 2, size + 2))
  item:add(F.record_length, tvb(pos - 2, 2))
  if size < HEADER_SIZE or tvb(pos, 2):bytes():tohex() ~= "5331" then
    item:add_proto_expert_info(E.malformed, "too short for the header, or magic is not \"S1\"")
    summary[#summary + 1] = "malformed"
    return
  end
  item:add(F.magic, tvb(pos, 2))
  item:add(F.version, tvb(pos + 2, 1))
  local msg_type = tvb(pos + 3, 1):uint()
  item:add(F.type, tvb(pos + 3, 1))
  item:add(F.txn, tvb(pos + 4, 4))
  item:add(F.device, tvb(pos + 8, 8))
  item:add(F.role, tvb(pos + 16, 1))
  local key_id = tvb(pos + 17, 1):uint()
  local kid = item:add(F.key_id, tvb(pos + 17, 1))
  if KEY_IDS[key_id] then kid:append_text(" (" .. KEY_IDS[key_id] .. ")") end
  item:add(F.counter, tvb(pos + 18, 8))
  item:add(F.length, tvb(pos + 26, 2))
  local name = MSG_TYPES[msg_type] or string.format("type 0x%02X", msg_type)
  summary[#summary + 1] = string.format("%s txn=%d", name, tvb(pos + 4, 4):uint())
  item:append_text(string.format(", %s, txn %d", name, tvb(pos + 4, 4):uint()))
  if tvb(pos + 2, 1):uint() ~= 1 then
    return -- another version: only the header is defined
  end
  if key_id == 0 then kid:add_proto_expert_info(E.unauth) end
  local n = tvb(pos + 26, 2):uint()
  if size ~= HEADER_SIZE + n + MAC_SIZE then
    item:add_proto_expert_info(E.malformed, string.format(
      "frame is %d bytes, the header says %d", size, HEADER_SIZE + n + MAC_SIZE))
    return
  end
  local start = pos + HEADER_SIZE
  local items = payload_layout(msg_type, tvb, start, n)
  if items == nil then
    if n > 0 then item:add(F.payload, tvb(start, n)) end
    item:add_proto_expert_info(E.unknown)
  elseif items == EMPTY then
    if n > 0 then
      item:add(F.payload, tvb(start, n))
      item:add_proto_expert_info(E.malformed, "payload where none belongs")
    end
  else
    local sub = item:add(s1lab, tvb(start, math.max(n, 0)), "Payload: " .. PREFIX[items])
    local stop = walk(tvb, start, start + n, sub, PREFIX[items], items)
    if stop ~= start + n then
      sub:add_proto_expert_info(E.malformed, stop == nil and "payload too short for its layout"
                                or "bytes left after the last field")
    end
  end
  item:add(F.mac, tvb(start + n, MAC_SIZE))
end

-- ---- the record stream ----------------------------------------------------------------------------

function s1lab.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  local pos = 0
  local summary = {}
  while pos < len do
    if len - pos < 2 then
      pinfo.desegment_offset = pos
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      break
    end
    local n = tvb(pos, 2):uint()
    if n == 0 or n > MAX_RECORD then
      local bad = tree:add(s1lab, tvb(pos, len - pos))
      bad:add(F.record_length, tvb(pos, 2)):add_proto_expert_info(E.record)
      pos = len
      break
    end
    if len - pos < 2 + n then
      pinfo.desegment_offset = pos
      pinfo.desegment_len = 2 + n - (len - pos)
      break
    end
    dissect_frame(tvb, pos + 2, n, tree, summary)
    pos = pos + 2 + n
  end
  if #summary > 0 then
    pinfo.cols.protocol = "s1lab"
    pinfo.cols.info = table.concat(summary, "; ")
  end
  return pos
end

DissectorTable.get("tls.alpn"):add(ALPN, s1lab)
