#include "nn/torch_checkpoint.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "tensor/error.h"

namespace liednet::nn {

namespace {

// torch writes storages in the machine's byte order; every machine we build
// for is little-endian, and a "byteorder" entry saying otherwise is refused.
static_assert(std::endian::native == std::endian::little, "the checkpoint reader assumes a little-endian host");

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) { return le16(p) | static_cast<uint32_t>(le16(p + 2)) << 16; }
uint64_t le64(const uint8_t* p) { return le32(p) | static_cast<uint64_t>(le32(p + 4)) << 32; }

// Raw bytes without the zero-fill a std::string or std::vector would spend on
// a storage that is about to be overwritten.
struct Bytes {
  std::unique_ptr<uint8_t[]> data;
  uint64_t size = 0;
};

// ---- CRC-32 (zip's polynomial), eight bytes per step -------------------------
// A flipped bit in a storage would otherwise load as a silently wrong weight.
class Crc32 {
 public:
  Crc32() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table_[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int t = 1; t < 8; ++t) table_[t][i] = (table_[t - 1][i] >> 8) ^ table_[0][table_[t - 1][i] & 0xff];
  }

  uint32_t operator()(const uint8_t* p, uint64_t n) const {
    uint32_t c = 0xffffffffu;
    for (; n >= 8; n -= 8, p += 8) {
      const uint32_t lo = le32(p) ^ c, hi = le32(p + 4);
      c = table_[7][lo & 0xff] ^ table_[6][(lo >> 8) & 0xff] ^ table_[5][(lo >> 16) & 0xff] ^ table_[4][lo >> 24] ^
          table_[3][hi & 0xff] ^ table_[2][(hi >> 8) & 0xff] ^ table_[1][(hi >> 16) & 0xff] ^ table_[0][hi >> 24];
    }
    for (; n > 0; --n, ++p) c = table_[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return ~c;
  }

 private:
  std::array<std::array<uint32_t, 256>, 8> table_;
};

const Crc32& crc32() {
  static const Crc32 crc;
  return crc;
}

// ---- the file: every read is checked against its size -----------------------
class File {
 public:
  explicit File(const std::string& path) : path_(path) {
    std::error_code ec;
    LIEDNET_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a folder, not a checkpoint file");
    in_.open(path, std::ios::binary);
    LIEDNET_CHECK(in_, path, ": cannot open for reading");
    in_.seekg(0, std::ios::end);
    const auto end = in_.tellg();
    LIEDNET_CHECK(end >= 0, path, ": cannot tell the file's size");
    size_ = static_cast<uint64_t>(end);
  }

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  void read(uint64_t offset, uint64_t n, uint8_t* dst, std::string_view what) {
    LIEDNET_CHECK(offset <= size_ && n <= size_ - offset, path_, ": ", what, " at bytes [", offset, ", ",
                  offset + n, ") lies beyond the end of the file (", size_, " bytes): truncated or corrupt");
    if (n == 0) return;
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    LIEDNET_CHECK(in_, path_, ": could not read ", what, " (", n, " bytes at offset ", offset, ")");
  }

  std::vector<uint8_t> read(uint64_t offset, uint64_t n, std::string_view what) {
    // Checked before allocating: n may come from a corrupt field.
    LIEDNET_CHECK(offset <= size_ && n <= size_ - offset, path_, ": ", what, " at bytes [", offset, ", ",
                  offset + n, ") lies beyond the end of the file (", size_, " bytes): truncated or corrupt");
    std::vector<uint8_t> out(n);
    read(offset, n, out.data(), what);
    return out;
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

// ---- zip: the central directory, zip64 included, and stored entries ---------
struct ZipEntry {
  std::string name;
  uint64_t local_header = 0;  // offset of the entry's local header
  uint64_t size = 0;          // stored entries: compressed size == uncompressed size
  uint32_t crc = 0;
};

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

// Why a file that is not a zip is not one, for the error message.
std::string describe_non_zip(File& f) {
  if (f.size() == 0) return "the file is empty";
  const auto head = f.read(0, std::min<uint64_t>(f.size(), 512), "the file's first bytes");
  if (head.size() >= 2 && head[0] == 0x80 && head[1] <= 5)
    return "it is a bare pickle: the format torch.save wrote before torch 1.6 or with "
           "_use_new_zipfile_serialization=False; load it in Python and save it again with a recent torch.save";
  if (head.size() >= 262 && std::memcmp(head.data() + 257, "ustar", 5) == 0)
    return "it is a tar archive, the format of torch before 0.4; load it in Python and save it again";
  std::string shown;
  for (size_t i = 0; i < std::min<size_t>(head.size(), 8); ++i) {
    static const char* hex = "0123456789abcdef";
    shown += i ? " " : "";
    shown += hex[head[i] >> 4];
    shown += hex[head[i] & 15];
  }
  return "it starts with bytes " + shown + ", not a zip's 50 4b 03 04 (\"PK\")";
}

class ZipArchive {
 public:
  explicit ZipArchive(File& f) : f_(f) {
    const bool looks_like_zip = f.size() >= 4 && le32(f.read(0, 4, "the zip signature").data()) == kLocalHeaderSig;
    LIEDNET_CHECK(looks_like_zip, f.path(), ": not a PyTorch zip checkpoint (", describe_non_zip(f), ")");
    read_central_directory();
  }

  const ZipEntry* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &entries_[it->second];
  }
  const std::vector<ZipEntry>& entries() const { return entries_; }

  Bytes read(const ZipEntry& e) {
    // The directory's checks bound e.size by the file's size, so this allocation is never absurd.
    Bytes out{std::unique_ptr<uint8_t[]>(new uint8_t[std::max<uint64_t>(e.size, 1)]), e.size};
    read_into(e, out.data.get());
    return out;
  }

  // Reads the entry's e.size bytes into `dst` and checks them against the CRC.
  void read_into(const ZipEntry& e, uint8_t* dst) {
    const uint64_t data = data_offset(e);
    const std::string what = "zip entry '" + e.name + "'";
    f_.read(data, e.size, dst, what);
    const uint32_t crc = crc32()(dst, e.size);
    LIEDNET_CHECK(crc == e.crc, f_.path(), ": ", what, " is corrupt (CRC-32 ", hex32(crc), ", the zip says ",
                  hex32(e.crc), ")");
  }

 private:
  // Where the entry's data starts, checked against the file.
  uint64_t data_offset(const ZipEntry& e) {
    const std::string what = "zip entry '" + e.name + "'";
    const auto local = f_.read(e.local_header, 30, what + "'s local header");
    LIEDNET_CHECK(le32(local.data()) == kLocalHeaderSig, f_.path(), ": corrupt zip: ", what,
                  " has no local header at offset ", e.local_header);
    const uint64_t data = e.local_header + 30 + le16(&local[26]) + le16(&local[28]);
    // Entry data never overlaps the central directory; a size that says so is corrupt.
    LIEDNET_CHECK(data <= central_directory_ && e.size <= central_directory_ - data, f_.path(), ": ", what,
                  " claims bytes [", data, ", ", data + e.size, ") but entries end at ", central_directory_,
                  ": truncated or corrupt");
    return data;
  }

  static std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
  }

  void read_central_directory() {
    const std::string& path = f_.path();
    // The end record is 22 bytes plus a comment of at most 65535 bytes.
    const uint64_t tail_size = std::min<uint64_t>(f_.size(), 22 + 65535);
    const uint64_t tail_start = f_.size() - tail_size;
    const auto tail = f_.read(tail_start, tail_size, "the zip's end");
    int64_t end = -1;
    for (int64_t p = static_cast<int64_t>(tail_size) - 22; p >= 0; --p) {
      if (le32(&tail[p]) == kEndSig && static_cast<uint64_t>(p) + 22 + le16(&tail[p + 20]) <= tail_size) {
        end = p;
        break;
      }
    }
    LIEDNET_CHECK(end >= 0, path, ": truncated or corrupt zip: no end-of-central-directory record (was the file cut "
                  "short while copying or saving?)");
    const uint8_t* e = &tail[end];
    const uint64_t end_offset = tail_start + end;
    LIEDNET_CHECK(le16(e + 4) == 0 && (le16(e + 6) == 0 || le16(e + 6) == 0xffff), path,
                  ": multi-disk zip archives are not supported");
    uint64_t count = le16(e + 10), cd_size = le32(e + 12), cd_offset = le32(e + 16);
    uint64_t cd_end_limit = end_offset;

    // torch always writes a zip64 end record (through a locator just before
    // the classic one); its fields are the true ones when the classic fields
    // overflow (0xffff / 0xffffffff).
    if (end_offset >= 20) {
      const auto loc = f_.read(end_offset - 20, 20, "the zip64 locator");
      if (le32(loc.data()) == kZip64LocatorSig) {
        const uint64_t z64 = le64(&loc[8]);
        LIEDNET_CHECK(z64 <= end_offset - 20 && end_offset - 20 - z64 >= 56, path,
                      ": corrupt zip: the zip64 end record's offset ", z64, " is out of place");
        const auto r = f_.read(z64, 56, "the zip64 end record");
        LIEDNET_CHECK(le32(r.data()) == kZip64EndSig, path, ": corrupt zip: no zip64 end record at offset ", z64);
        LIEDNET_CHECK(le32(&r[16]) == 0 && le32(&r[20]) == 0, path, ": multi-disk zip archives are not supported");
        count = le64(&r[32]);
        cd_size = le64(&r[40]);
        cd_offset = le64(&r[48]);
        cd_end_limit = z64;
      }
    }
    LIEDNET_CHECK(cd_offset <= cd_end_limit && cd_size <= cd_end_limit - cd_offset, path,
                  ": truncated or corrupt zip: the central directory [", cd_offset, ", ", cd_offset + cd_size,
                  ") does not lie before its end record at ", cd_end_limit);
    LIEDNET_CHECK(count <= cd_size / 46, path, ": corrupt zip: ", count, " entries cannot fit in a ", cd_size,
                  "-byte central directory");
    central_directory_ = cd_offset;

    const auto cd = f_.read(cd_offset, cd_size, "the zip's central directory");
    uint64_t p = 0;
    entries_.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      LIEDNET_CHECK(cd_size - p >= 46 && le32(&cd[p]) == kCentralHeaderSig, path,
                    ": corrupt zip: central directory entry ", i, " is damaged");
      const uint8_t* h = &cd[p];
      const uint16_t flags = le16(h + 8), method = le16(h + 10);
      const uint64_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
      LIEDNET_CHECK(cd_size - p - 46 >= name_len + extra_len + comment_len, path,
                    ": corrupt zip: central directory entry ", i, " runs past the directory's end");
      ZipEntry z;
      z.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
      z.crc = le32(h + 16);
      uint64_t compressed = le32(h + 20), size = le32(h + 24), offset = le32(h + 42);
      // A zip64 extra field holds, in this order, only the fields that overflowed.
      const uint8_t* x = h + 46 + name_len;
      for (uint64_t q = 0; q + 4 <= extra_len;) {
        const uint16_t id = le16(x + q), len = le16(x + q + 2);
        LIEDNET_CHECK(q + 4 + len <= extra_len, path, ": corrupt zip: an extra field of entry '", z.name,
                      "' runs past its end");
        if (id == 0x0001) {
          uint64_t r = q + 4;
          auto take = [&](uint64_t& field) {
            if (field != 0xffffffffu) return;
            LIEDNET_CHECK(r + 8 <= q + 4 + len, path, ": corrupt zip: entry '", z.name,
                          "' lacks a field in its zip64 extra");
            field = le64(x + r);
            r += 8;
          };
          take(size);
          take(compressed);
          take(offset);
        }
        q += 4 + len;
      }
      LIEDNET_CHECK(!(flags & 1), path, ": zip entry '", z.name, "' is encrypted");
      LIEDNET_CHECK(method == 0, path, ": zip entry '", z.name, "' is compressed (method ", method,
                    method == 8 ? ", deflate" : "", "); torch.save writes stored entries only: was the archive "
                    "repacked by a zip tool? Load it in Python and save it again with torch.save");
      LIEDNET_CHECK(compressed == size, path, ": corrupt zip: stored entry '", z.name, "' has compressed size ",
                    compressed, " but size ", size);
      LIEDNET_CHECK(offset < cd_offset && size <= cd_offset - offset, path, ": corrupt zip: entry '", z.name,
                    "' (", size, " bytes at ", offset, ") overlaps the central directory at ", cd_offset);
      z.size = size;
      z.local_header = offset;
      by_name_.emplace(z.name, entries_.size());
      entries_.push_back(std::move(z));
      p += 46 + name_len + extra_len + comment_len;
    }
  }

  File& f_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> by_name_;
  uint64_t central_directory_ = 0;
};

// ---- what a storage holds ----------------------------------------------------
enum class Elem : uint8_t { F32, F64, F16, BF16, Other };

struct StorageType {
  const char* name;  // torch's class name
  Elem elem;
  uint32_t bytes;  // per element
};

// The storage classes torch.save names in its persistent ids. UntypedStorage
// counts bytes; tensors never point at one in what torch 1.x/2.x writes for a
// state dict, but a bare storage may sit in a dict.
constexpr std::array<StorageType, 18> kStorageTypes{{
    {"FloatStorage", Elem::F32, 4},
    {"DoubleStorage", Elem::F64, 8},
    {"HalfStorage", Elem::F16, 2},
    {"BFloat16Storage", Elem::BF16, 2},
    {"LongStorage", Elem::Other, 8},
    {"IntStorage", Elem::Other, 4},
    {"ShortStorage", Elem::Other, 2},
    {"CharStorage", Elem::Other, 1},
    {"ByteStorage", Elem::Other, 1},
    {"BoolStorage", Elem::Other, 1},
    {"ComplexFloatStorage", Elem::Other, 8},
    {"ComplexDoubleStorage", Elem::Other, 16},
    {"QUInt8Storage", Elem::Other, 1},
    {"QInt8Storage", Elem::Other, 1},
    {"QInt32Storage", Elem::Other, 4},
    {"QUInt4x2Storage", Elem::Other, 1},
    {"QUInt2x4Storage", Elem::Other, 1},
    {"UntypedStorage", Elem::Other, 1},
}};

struct StorageRef {
  std::string key;  // the zip entry is <archive>/data/<key>
  const StorageType* type = nullptr;
  int64_t numel = 0;
};

struct TensorRef {
  StorageRef storage;
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

// ---- pickle values -----------------------------------------------------------
enum class Kind : uint8_t { None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

// The kind with its article, for messages ("an int", "a list", "None").
const char* a_kind(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::BigInt: return "an int beyond 64 bits";
    case Kind::Float: return "a float";
    case Kind::Str: return "a str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "a tuple";
    case Kind::List: return "a list";
    case Kind::Dict: return "a dict";
    case Kind::Global: return "a class or function";
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
  }
  return "?";
}

// The Python globals a weights file may name; anything else is refused by name.
enum class GlobalId : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, Storage };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// Only what the reader looks at is kept: a float's or a bool's value is not.
struct Value {
  explicit Value(Kind k) : kind(k) {}
  Kind kind;
  int64_t integer = 0;
  std::string text;                                      // Str, Bytes; Global: "module.name"
  std::vector<ValuePtr> items;                           // Tuple, List
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;    // Dict, in insertion order
  std::unordered_map<std::string_view, size_t> str_key;  // Dict: a str key's index in `entries`
  GlobalId global = GlobalId::OrderedDict;
  const StorageType* storage_type = nullptr;  // Global naming a storage class
  StorageRef storage;
  TensorRef tensor;
};

const char* opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";           case '.': return "STOP";            case '0': return "POP";
    case '1': return "POP_MARK";       case '2': return "DUP";             case 'F': return "FLOAT";
    case 'I': return "INT";            case 'J': return "BININT";          case 'K': return "BININT1";
    case 'L': return "LONG";           case 'M': return "BININT2";         case 'N': return "NONE";
    case 'P': return "PERSID";         case 'Q': return "BINPERSID";       case 'R': return "REDUCE";
    case 'S': return "STRING";         case 'T': return "BINSTRING";       case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";        case 'X': return "BINUNICODE";      case 'a': return "APPEND";
    case 'b': return "BUILD";          case 'c': return "GLOBAL";          case 'd': return "DICT";
    case '}': return "EMPTY_DICT";     case 'e': return "APPENDS";         case 'g': return "GET";
    case 'h': return "BINGET";         case 'i': return "INST";            case 'j': return "LONG_BINGET";
    case 'l': return "LIST";           case ']': return "EMPTY_LIST";      case 'o': return "OBJ";
    case 'p': return "PUT";            case 'q': return "BINPUT";          case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";        case 't': return "TUPLE";           case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";       case 'G': return "BINFLOAT";        case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES"; case 0x80: return "PROTO";          case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";          case 0x83: return "EXT2";           case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";        case 0x86: return "TUPLE2";         case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";       case 0x89: return "NEWFALSE";       case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";         case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";     case 0x8f: return "EMPTY_SET";      case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";     case 0x92: return "NEWOBJ_EX";      case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";       case 0x95: return "FRAME";          case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";   case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

std::string hex_byte(uint8_t b) {
  static const char* hex = "0123456789abcdef";
  return std::string("0x") + hex[b >> 4] + hex[b & 15];
}

// A stack machine for the subset of pickle that torch.save emits. It builds
// plain values and records tensors as (storage, offset, size, stride); it never
// imports or calls anything.
class Unpickler {
 public:
  Unpickler(std::string where, const uint8_t* data, uint64_t size) : where_(std::move(where)), p_(data), n_(size) {}

  // Containers may nest deeply or even contain themselves (a list appended to
  // itself); unlinking them here keeps destruction flat and leak-free.
  ~Unpickler() {
    for (auto& c : containers_) {
      c->items.clear();
      c->str_key.clear();
      c->entries.clear();
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  ValuePtr run() {
    while (true) {
      LIEDNET_CHECK(pos_ < n_, where_, ": truncated pickle: it ends at byte ", n_, " without a STOP opcode");
      op_pos_ = pos_;
      op_ = p_[pos_++];
      if (op_ == '.') {
        ValuePtr result = pop();
        LIEDNET_CHECK(marks_.empty(), where_, ": malformed pickle: STOP with an open MARK");
        return result;
      }
      step();
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void malformed(const Args&... args) const {
    fail(where_, ": malformed pickle at byte ", op_pos_, " (opcode ", op_label(op_), "): ", args...);
  }

  static std::string op_label(uint8_t op) {
    const char* name = opcode_name(op);
    return hex_byte(op) + (name ? std::string(" ") + name : std::string(" unknown"));
  }

  const uint8_t* take(uint64_t k) {
    if (k > n_ - pos_) malformed("needs ", k, " more bytes but the pickle ends at byte ", n_, " (truncated)");
    const uint8_t* at = p_ + pos_;
    pos_ += k;
    return at;
  }

  ValuePtr make(Kind k) {
    auto v = std::make_shared<Value>(k);
    if (k == Kind::Tuple || k == Kind::List || k == Kind::Dict) containers_.push_back(v);
    return v;
  }
  ValuePtr make_int(int64_t i) {
    auto v = make(Kind::Int);
    v->integer = i;
    return v;
  }
  ValuePtr make_str(Kind k, const uint8_t* s, uint64_t len) {
    auto v = make(k);
    v->text.assign(reinterpret_cast<const char*>(s), len);
    return v;
  }

  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.size() <= floor()) malformed("the stack is empty");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.size() <= floor()) malformed("the stack is empty");
    return stack_.back();
  }
  // Opcodes other than the MARK-consuming ones may not reach below the last MARK.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty()) malformed("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> out(std::make_move_iterator(stack_.begin() + m), std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return out;
  }

  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) malformed("memo slot ", index, " was never set");
    push(it->second);
  }

  ValuePtr tuple(std::vector<ValuePtr> items) {
    auto t = make(Kind::Tuple);
    t->items = std::move(items);
    return t;
  }

  void set_item(Value& dict, ValuePtr key, ValuePtr value) {
    if (dict.kind != Kind::Dict) malformed("SETITEM(S) into ", a_kind(dict.kind), ", not a dict");
    if (key->kind == Kind::Str) {
      auto it = dict.str_key.find(key->text);
      if (it != dict.str_key.end()) {  // Python keeps the first position and the last value
        dict.entries[it->second].second = std::move(value);
        return;
      }
      dict.str_key.emplace(key->text, dict.entries.size());
    }
    dict.entries.emplace_back(std::move(key), std::move(value));
  }

  void append(Value& list, std::vector<ValuePtr> items) {
    if (list.kind != Kind::List) malformed("APPEND(S) to ", a_kind(list.kind), ", not a list");
    for (auto& v : items) list.items.push_back(std::move(v));
  }

  ValuePtr global(const std::string& module, const std::string& name) {
    auto g = make(Kind::Global);
    g->text = module + "." + name;
    if (module == "collections" && name == "OrderedDict") {
      g->global = GlobalId::OrderedDict;
    } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      g->global = GlobalId::RebuildTensorV2;
    } else if (module == "torch._utils" && name == "_rebuild_parameter") {
      g->global = GlobalId::RebuildParameter;
    } else if (module == "torch._utils" && name == "_rebuild_parameter_with_state") {
      g->global = GlobalId::RebuildParameterWithState;
    } else if (module == "torch" || (module == "torch.storage" && name == "UntypedStorage")) {
      auto it = std::find_if(kStorageTypes.begin(), kStorageTypes.end(),
                             [&](const StorageType& t) { return name == t.name; });
      if (it == kStorageTypes.end()) refuse(g->text);
      g->global = GlobalId::Storage;
      g->storage_type = &*it;
    } else {
      refuse(g->text);
    }
    return g;
  }

  [[noreturn]] void refuse(const std::string& global) const {
    fail(where_, ": the pickle names the Python global '", global,
         "', which this reader does not allow (a weights file needs only tensors, storages, dicts, lists and plain "
         "values; nothing in the file is executed)");
  }

  int64_t as_int(const ValuePtr& v, const char* what) const {
    if (v->kind != Kind::Int) malformed(what, " is ", a_kind(v->kind), ", not an int");
    return v->integer;
  }
  std::vector<int64_t> as_ints(const ValuePtr& v, const char* what) const {
    if (v->kind != Kind::Tuple) malformed(what, " is ", a_kind(v->kind), ", not a tuple");
    std::vector<int64_t> out;
    for (const auto& x : v->items) out.push_back(as_int(x, what));
    return out;
  }

  ValuePtr call(const Value& fn, const std::vector<ValuePtr>& args) {
    if (fn.kind != Kind::Global) malformed("calls ", a_kind(fn.kind));
    switch (fn.global) {
      case GlobalId::OrderedDict: {
        auto d = make(Kind::Dict);
        if (args.empty()) return d;
        // OrderedDict([(key, value), ...]), the other form Python may write.
        if (args.size() != 1 || args[0]->kind != Kind::List) malformed("OrderedDict called with unexpected arguments");
        for (const auto& kv : args[0]->items) {
          if (kv->kind != Kind::Tuple || kv->items.size() != 2) malformed("OrderedDict item is not a pair");
          set_item(*d, kv->items[0], kv->items[1]);
        }
        return d;
      }
      case GlobalId::RebuildTensorV2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.size() != 6 && args.size() != 7) malformed("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", args.size());
        if (args[0]->kind != Kind::Storage) malformed("_rebuild_tensor_v2's storage is ", a_kind(args[0]->kind));
        auto t = make(Kind::Tensor);
        t->tensor.storage = args[0]->storage;
        t->tensor.offset = as_int(args[1], "the storage offset");
        t->tensor.size = as_ints(args[2], "the size");
        t->tensor.stride = as_ints(args[3], "the stride");
        return t;
      }
      case GlobalId::RebuildParameter:             // (data, requires_grad, backward_hooks)
      case GlobalId::RebuildParameterWithState: {  // (data, requires_grad, backward_hooks, state)
        if (args.empty() || args[0]->kind != Kind::Tensor) malformed(fn.text, " does not wrap a tensor");
        return args[0];
      }
      case GlobalId::Storage:
        break;
    }
    malformed("calls ", fn.text, ", which torch.save never calls");
  }

  void step() {
    switch (op_) {
      case 0x80: {  // PROTO
        const uint8_t v = *take(1);
        if (v > 5) malformed("pickle protocol ", int(v), " is newer than 5");
        return;
      }
      case 0x95: take(8); return;  // FRAME: a buffering hint
      case '(': marks_.push_back(stack_.size()); return;
      case '0': pop(); return;
      case '1': pop_to_mark(); return;
      case '2': push(top()); return;
      case 'N': push(make(Kind::None)); return;
      case 0x88:
      case 0x89: push(make(Kind::Bool)); return;
      case 'J': push(make_int(static_cast<int32_t>(le32(take(4))))); return;
      case 'K': push(make_int(*take(1))); return;
      case 'M': push(make_int(le16(take(2)))); return;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const uint8_t len = *take(1);
        push_long(take(len), len);
        return;
      }
      case 0x8b: {  // LONG4
        const int32_t len = static_cast<int32_t>(le32(take(4)));
        if (len < 0) malformed("negative length");
        push_long(take(static_cast<uint64_t>(len)), static_cast<uint64_t>(len));
        return;
      }
      case 'G':  // BINFLOAT
        take(8);
        push(make(Kind::Float));
        return;
      case 'X': {
        const uint64_t len = le32(take(4));
        push(make_str(Kind::Str, take(len), len));
        return;
      }
      case 0x8c: {
        const uint64_t len = *take(1);
        push(make_str(Kind::Str, take(len), len));
        return;
      }
      case 0x8d: {
        const uint64_t len = le64(take(8));
        push(make_str(Kind::Str, take(len), len));
        return;
      }
      case 'B': {
        const uint64_t len = le32(take(4));
        push(make_str(Kind::Bytes, take(len), len));
        return;
      }
      case 'C': {
        const uint64_t len = *take(1);
        push(make_str(Kind::Bytes, take(len), len));
        return;
      }
      case 0x8e: {
        const uint64_t len = le64(take(8));
        push(make_str(Kind::Bytes, take(len), len));
        return;
      }
      case '}': push(make(Kind::Dict)); return;
      case ']': push(make(Kind::List)); return;
      case ')': push(make(Kind::Tuple)); return;
      case 't': push(tuple(pop_to_mark())); return;
      case 0x85:
      case 0x86:
      case 0x87: {
        std::vector<ValuePtr> items(op_ - 0x84);
        for (size_t i = items.size(); i-- > 0;) items[i] = pop();
        push(tuple(std::move(items)));
        return;
      }
      case 'l': {
        auto l = make(Kind::List);
        l->items = pop_to_mark();
        push(l);
        return;
      }
      case 'd': {
        auto items = pop_to_mark();
        if (items.size() % 2) malformed("an odd number of items for a dict");
        auto d = make(Kind::Dict);
        for (size_t i = 0; i < items.size(); i += 2) set_item(*d, items[i], items[i + 1]);
        push(d);
        return;
      }
      case 'q': memo_put(*take(1)); return;
      case 'r': memo_put(le32(take(4))); return;
      case 0x94: memo_put(memo_.size()); return;
      case 'h': memo_get(*take(1)); return;
      case 'j': memo_get(le32(take(4))); return;
      case 'c': {  // GLOBAL "module\nname\n"
        const std::string module = line(), name = line();
        push(global(module, name));
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        ValuePtr name = pop(), module = pop();
        if (module->kind != Kind::Str || name->kind != Kind::Str) malformed("module and name must be str");
        push(global(module->text, name->text));
        return;
      }
      case 'Q': {  // BINPERSID: torch's ('storage', type, key, location, numel)
        ValuePtr pid = pop();
        const auto& it = pid->items;
        const bool ok = pid->kind == Kind::Tuple && it.size() == 5 && it[0]->kind == Kind::Str &&
                        it[0]->text == "storage" && it[1]->kind == Kind::Global &&
                        it[1]->global == GlobalId::Storage && it[2]->kind == Kind::Str && it[4]->kind == Kind::Int;
        if (!ok) malformed("a persistent id that is not ('storage', <storage class>, key, location, numel)");
        if (it[4]->integer < 0) malformed("a storage of ", it[4]->integer, " elements");
        auto s = make(Kind::Storage);
        s->storage = {it[2]->text, it[1]->storage_type, it[4]->integer};
        push(s);
        return;
      }
      case 'R': {
        ValuePtr args = pop();
        ValuePtr fn = pop();
        if (args->kind != Kind::Tuple) malformed("REDUCE arguments are ", a_kind(args->kind), ", not a tuple");
        push(call(*fn, args->items));
        return;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args); only OrderedDict is ever built this way here
        ValuePtr args = pop();
        ValuePtr cls = pop();
        if (cls->kind != Kind::Global || cls->global != GlobalId::OrderedDict || args->kind != Kind::Tuple)
          malformed("NEWOBJ of ", cls->kind == Kind::Global ? cls->text : a_kind(cls->kind));
        push(make(Kind::Dict));
        return;
      }
      case 'b': {  // BUILD: a state dict's OrderedDict carries `_metadata` (module versions) as its state
        pop();
        if (top()->kind != Kind::Dict) malformed("BUILD on ", a_kind(top()->kind));
        return;
      }
      case 's': {
        ValuePtr value = pop();
        ValuePtr key = pop();
        set_item(*top(), std::move(key), std::move(value));
        return;
      }
      case 'u': {
        auto items = pop_to_mark();
        if (items.size() % 2) malformed("an odd number of items for a dict");
        ValuePtr dict = top();
        for (size_t i = 0; i < items.size(); i += 2) set_item(*dict, items[i], items[i + 1]);
        return;
      }
      case 'a': {
        ValuePtr v = pop();
        append(*top(), {std::move(v)});
        return;
      }
      case 'e': {
        auto items = pop_to_mark();
        append(*top(), std::move(items));
        return;
      }
      default:
        if (!opcode_name(op_)) fail(where_, ": unknown pickle opcode ", hex_byte(op_), " at byte ", op_pos_);
        fail(where_, ": unsupported pickle opcode ", op_label(op_), " at byte ", op_pos_,
             " (torch.save does not write it for a dict of tensors)");
    }
  }

  std::string line() {
    const uint8_t* start = p_ + pos_;
    const void* nl = std::memchr(start, '\n', n_ - pos_);
    if (!nl) malformed("the line has no end (truncated)");
    const uint64_t len = static_cast<const uint8_t*>(nl) - start;
    pos_ += len + 1;
    return std::string(reinterpret_cast<const char*>(start), len);
  }

  void push_long(const uint8_t* b, uint64_t len) {
    if (len > 8) {  // Python ints of any size are legal; no tensor field needs one
      push(make(Kind::BigInt));
      return;
    }
    uint64_t u = 0;
    for (uint64_t i = len; i-- > 0;) u = u << 8 | b[i];
    if (len > 0 && len < 8 && (b[len - 1] & 0x80)) u |= ~uint64_t{0} << (8 * len);  // sign-extend
    push(make_int(static_cast<int64_t>(u)));
  }

  std::string where_;
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0, op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::vector<ValuePtr> containers_;
};

// ---- tensors -----------------------------------------------------------------
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t rest = static_cast<uint32_t>(h & 0x7fff) << 13;
  if ((h & 0x7c00) == 0x7c00) {
    // NaNs come back quiet, as torch's own .float() makes them on x86.
    const uint32_t quiet = (h & 0x3ff) ? 0x00400000u : 0;
    return std::bit_cast<float>(sign | 0x7f800000u | rest | quiet);
  }
  // Scaling by 2^(127-15) rebiases the exponent and normalises subnormals, exactly.
  return std::bit_cast<float>(std::bit_cast<uint32_t>(std::bit_cast<float>(rest) * 0x1p112f) | sign);
}

float bf16_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

template <typename Out>
Out load_element(const uint8_t* p, Elem elem) {
  switch (elem) {
    case Elem::F32: return static_cast<Out>(std::bit_cast<float>(le32(p)));
    case Elem::F64: return static_cast<Out>(std::bit_cast<double>(le64(p)));
    case Elem::F16: return static_cast<Out>(half_to_float(le16(p)));
    case Elem::BF16: return static_cast<Out>(bf16_to_float(le16(p)));
    case Elem::Other: break;
  }
  return Out{};
}

int64_t numel_of(const TensorRef& t) {
  int64_t n = 1;
  for (int64_t s : t.size) n *= s;
  return n;
}

// Row-major; a dimension of size 1 may have any stride.
bool is_contiguous(const TensorRef& t) {
  int64_t expect = 1;
  for (size_t d = t.size.size(); d-- > 0; expect *= t.size[d])
    if (t.size[d] != 1 && t.stride[d] != expect) return false;
  return true;
}

// Copies a strided view of `data` into `out` in row-major order.
template <typename Out>
void gather(const TensorRef& t, const uint8_t* data, Out* out) {
  const Elem elem = t.storage.type->elem;
  const uint64_t es = t.storage.type->bytes;
  const int nd = static_cast<int>(t.size.size());
  const int64_t numel = numel_of(t);
  if (numel == 0) return;
  if (is_contiguous(t)) {
    const uint8_t* src = data + t.offset * es;
    if ((elem == Elem::F32 && sizeof(Out) == 4) || (elem == Elem::F64 && sizeof(Out) == 8)) {
      std::memcpy(out, src, numel * sizeof(Out));
    } else {
      for (int64_t i = 0; i < numel; ++i) out[i] = load_element<Out>(src + i * es, elem);
    }
    return;
  }
  std::vector<int64_t> index(nd, 0);
  int64_t at = t.offset;
  for (int64_t i = 0; i < numel; ++i) {
    out[i] = load_element<Out>(data + at * es, elem);
    for (int d = nd - 1; d >= 0; --d) {  // odometer over the indices, last dimension fastest
      if (++index[d] < t.size[d]) {
        at += t.stride[d];
        break;
      }
      at -= t.stride[d] * (t.size[d] - 1);
      index[d] = 0;
    }
  }
}

// A tensor's view must stay inside its storage (whose size was checked against
// the file); the sizes are checked before any arithmetic on them can overflow.
void check_view(const TensorRef& t, const std::string& where) {
  const auto& s = t.storage;
  LIEDNET_CHECK(t.size.size() == t.stride.size(), where, ": size and stride have different lengths");
  LIEDNET_CHECK(t.size.size() <= static_cast<size_t>(Shape::kMaxDims), where, ": ", t.size.size(),
                " dimensions; at most ", Shape::kMaxDims, " are supported");
  LIEDNET_CHECK(t.offset >= 0, where, ": negative storage offset ", t.offset);
  // Views that overlap themselves (a stride of 0, from expand()) hold more
  // elements than their storage; materialising one is capped at 2^28 elements.
  const int64_t max_numel = std::max<int64_t>(s.numel, int64_t{1} << 28);
  for (size_t d = 0; d < t.size.size(); ++d)
    LIEDNET_CHECK(t.size[d] >= 0 && t.stride[d] >= 0, where, ": negative size or stride");
  for (int64_t size : t.size)
    if (size == 0) return;
  int64_t numel = 1;
  __int128 last = t.offset;
  for (size_t d = 0; d < t.size.size(); ++d) {
    LIEDNET_CHECK(numel <= max_numel / t.size[d], where, ": size ", Shape(t.size), " has more elements than its ",
                  s.numel, "-element storage can give");
    numel *= t.size[d];
    last += static_cast<__int128>(t.size[d] - 1) * t.stride[d];
  }
  LIEDNET_CHECK(last < s.numel, where, ": the view (offset ", t.offset, ", size ", Shape(t.size), ", stride (",
                [&] {
                  std::string r;
                  for (size_t d = 0; d < t.stride.size(); ++d) r += (d ? ", " : "") + std::to_string(t.stride[d]);
                  return r;
                }(),
                ")) reaches past its storage of ", s.numel, " elements");
}

std::string list_keys(const Value& dict) {
  std::string out;
  size_t shown = 0;
  for (const auto& [k, v] : dict.entries) {
    if (shown == 8) return out + ", ...";
    out += shown++ ? ", " : "";
    out += k->kind == Kind::Str ? "'" + k->text.substr(0, 64) + "'" : std::string("<") + a_kind(k->kind) + ">";
  }
  return out.empty() ? "none" : out;
}

const Value* find_str(const Value& dict, const std::string& key) {
  auto it = dict.str_key.find(key);
  return it == dict.str_key.end() ? nullptr : dict.entries[it->second].second.get();
}

}  // namespace

TorchCheckpoint load_torch_checkpoint(const std::string& path, const std::string& prefer,
                                      std::vector<std::string>* skipped) {
  File file(path);
  ZipArchive zip(file);

  // torch names the folder after the file it first saved to ("archive" before
  // torch 1.8), so the folder is whatever holds data.pkl.
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries()) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash + 1) == "data.pkl") {
      pkl = &e;
      break;
    }
  }
  LIEDNET_CHECK(pkl, path, ": not a PyTorch checkpoint: the zip holds no <archive>/data.pkl (",
                zip.entries().size(), " entries", zip.entries().empty() ? "" : ", the first '",
                zip.entries().empty() ? "" : zip.entries()[0].name, zip.entries().empty() ? "" : "'", ")");
  const std::string archive = pkl->name.substr(0, pkl->name.find('/') + 1);
  if (const ZipEntry* bo = zip.find(archive + "byteorder")) {
    const Bytes b = zip.read(*bo);
    const std::string order(reinterpret_cast<const char*>(b.data.get()), b.size);
    LIEDNET_CHECK(order == "little", path, ": the checkpoint was saved on a '", order.substr(0, 16),
                  "'-endian machine; only little-endian checkpoints are supported");
  }

  const Bytes pickle = zip.read(*pkl);
  Unpickler unpickler(path + ": " + pkl->name, pickle.data.get(), pickle.size);
  const ValuePtr top = unpickler.run();
  LIEDNET_CHECK(top->kind == Kind::Dict, path, ": the checkpoint holds ", a_kind(top->kind),
                ", not a dict of tensors");

  TorchCheckpoint out;
  const Value* dict = nullptr;
  if (!prefer.empty()) {
    dict = find_str(*top, prefer);
    LIEDNET_CHECK(dict, path, ": no entry '", prefer, "' at the top level (keys: ", list_keys(*top), ")");
    LIEDNET_CHECK(dict->kind == Kind::Dict, path, ": entry '", prefer, "' is ", a_kind(dict->kind),
                  ", not a dict of tensors");
    out.source = prefer;
  } else {
    for (const char* key : {"params", "params_ema", "state_dict"}) {
      const Value* v = find_str(*top, key);
      if (v && v->kind == Kind::Dict) {
        dict = v;
        out.source = key;
        break;
      }
    }
    if (!dict) dict = top.get();
  }
  const std::string where = out.source.empty() ? "the top level" : "'" + out.source + "'";

  // Storages are read once, however many tensors view them, and dropped after
  // their last use so that peak memory stays near the output's size.
  std::unordered_map<std::string, int> uses;
  for (const auto& [k, v] : dict->entries)
    if (v->kind == Kind::Tensor && v->tensor.storage.type->elem != Elem::Other) ++uses[v->tensor.storage.key];
  std::unordered_map<std::string, Bytes> loaded;

  std::vector<std::string> skipped_here;
  for (const auto& [k, v] : dict->entries) {
    LIEDNET_CHECK(k->kind == Kind::Str, path, ": ", where, " has a key that is ", a_kind(k->kind),
                  ", not a tensor name");
    const std::string& name = k->text;
    if (v->kind != Kind::Tensor || v->tensor.storage.type->elem == Elem::Other) {
      skipped_here.push_back(name);
      continue;
    }
    const TensorRef& t = v->tensor;
    const std::string what = path + ": tensor '" + name + "' (" + t.storage.type->name + " '" + t.storage.key + "')";
    const std::string entry_name = archive + "data/" + t.storage.key;
    const ZipEntry* e = zip.find(entry_name);
    LIEDNET_CHECK(e, what, ": its storage '", entry_name, "' is missing from the zip");
    const uint64_t es = t.storage.type->bytes;
    LIEDNET_CHECK(static_cast<uint64_t>(t.storage.numel) <= e->size / es, what, ": the storage is said to hold ",
                  t.storage.numel, " elements but '", entry_name, "' has only ", e->size, " bytes");
    check_view(t, what);
    const DType dtype = t.storage.type->elem == Elem::F64 ? DType::F64 : DType::F32;
    Tensor tensor = Tensor::empty(Shape(t.size), dtype);
    const bool same_type = dtype_size(dtype) == es;  // f32 from FloatStorage, f64 from DoubleStorage
    auto it = loaded.find(t.storage.key);
    if (it == loaded.end() && uses[t.storage.key] == 1 && same_type && t.offset == 0 && is_contiguous(t) &&
        static_cast<uint64_t>(numel_of(t)) * es == e->size) {
      // The tensor is its whole storage: read straight into it, halving peak memory on big files.
      if (e->size > 0) zip.read_into(*e, static_cast<uint8_t*>(tensor.raw_data()));
    } else {
      if (it == loaded.end()) it = loaded.emplace(t.storage.key, zip.read(*e)).first;
      LIEDNET_DISPATCH(dtype, T, gather<T>(t, it->second.data.get(), tensor.data<T>()));
      if (uses[t.storage.key] == 1) loaded.erase(it);
    }
    --uses[t.storage.key];
    out.tensors.emplace_back(name, std::move(tensor));
  }
  LIEDNET_CHECK(!out.tensors.empty(), path, ": no floating-point tensors under ", where, " (entries: ",
                list_keys(*dict), ")",
                dict == top.get() ? "; if the weights sit under one of these keys, name it" : "");
  if (skipped) *skipped = std::move(skipped_here);
  return out;
}

}  // namespace liednet::nn
