"use strict";
// zigbee-herdsman (zoh adapter) as the coordinator for s1lab's interop test.
//
//   node coordinator.cjs '<json config>'
//
// config: {path (pty or tcp://), panId, extendedPanId (16 hex), channel, networkKey (32 hex),
//          device (16 hex EUI-64), installCode (hex, code + CRC), tcKey (32 hex), dataDir,
//          timeoutMs}
// Prints one JSON object per line: {event: ...}. Exits 0 after the Metering read, 1 on timeout.
//
// The tcKey workaround (see ../../../../shared/notes/rcp-interop.md §4): zigbee-on-host 0.3.0
// secures the Transport Key only under netParams.tcKey and never uses the key addInstallCode
// stores, so the trust-centre key is set to the one install-code device's key before start.

const path = require("node:path");
const fs = require("node:fs");

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const fail = (why) => {
    out({event: "error", message: String(why && why.stack ? why.stack : why)});
    process.exit(2);
};
// One bad Spinel frame makes zigbee-on-host reject inside a 'data' listener: report it.
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

const {Controller} = require("zigbee-herdsman");
const {ZoHAdapter} = require("zigbee-herdsman/dist/adapter/zoh/adapter/zohAdapter.js");

const tcKey = Buffer.from(cfg.tcKey, "hex");
const originalStart = ZoHAdapter.prototype.start;
ZoHAdapter.prototype.start = async function start(...args) {
    this.driver.context.netParams.tcKey = tcKey;
    return originalStart.apply(this, args);
};

const hexBytes = (hex) => [...Buffer.from(hex, "hex")];

async function main() {
    fs.mkdirSync(cfg.dataDir, {recursive: true});
    const controller = new Controller({
        network: {
            panID: cfg.panId,
            extendedPanID: hexBytes(cfg.extendedPanId),
            channelList: [cfg.channel],
            networkKey: hexBytes(cfg.networkKey),
        },
        transport: {path: cfg.path, adapter: "zoh", baudRate: 460800, rtscts: false},
        adapter: {concurrent: 8, disableLED: false, transmitPower: 5},
        databasePath: path.join(cfg.dataDir, "database.db"),
        databaseBackupPath: path.join(cfg.dataDir, "database.db.backup"),
        backupPath: path.join(cfg.dataDir, "coordinator_backup.json"),
        acceptJoiningDeviceHandler: async () => true,
    });
    const deadline = setTimeout(() => {
        out({event: "timeout"});
        process.exit(1);
    }, cfg.timeoutMs);

    controller.on("deviceJoined", (e) => out({event: "deviceJoined", ieee: e.device.ieeeAddr}));
    controller.on("deviceAnnounce", (e) => out({event: "deviceAnnounce", ieee: e.device.ieeeAddr}));
    controller.on("deviceInterview", async (e) => {
        out({event: "deviceInterview", status: e.status, ieee: e.device.ieeeAddr,
             modelID: e.device.modelID ?? null, manufacturer: e.device.manufacturerName ?? null,
             endpoints: e.device.endpoints.map((ep) => ep.ID)});
        if (e.status !== "successful") {
            return;
        }
        const endpoint = e.device.getEndpoint(1);
        const reply = await endpoint.read("seMetering",
                                          ["currentSummDelivered", "instantaneousDemand"],
                                          {profileId: 0x0109});
        out({event: "metering", ieee: e.device.ieeeAddr,
             currentSummDelivered: String(reply.currentSummDelivered),
             instantaneousDemand: Number(reply.instantaneousDemand)});
        clearTimeout(deadline);
        await controller.stop();
        out({event: "stopped"});
        process.exit(0);
    });

    const started = await controller.start();
    out({event: "started", result: started});
    await controller.addInstallCode(`${cfg.device}|${cfg.installCode}`);
    await controller.permitJoin(254);
    out({event: "permitJoin"});
}

main().catch(fail);
