#include <strider/core/serialize.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <set>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <strider/core/file_io.hpp>

namespace strider {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; strider's reader and writer assume a little-endian host");

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

const char* safetensors_dtype(DType t) { return t == DType::Float64 ? "F64" : "F32"; }

// Every dtype the safetensors format defines: a known-but-unsupported one gets a different
// message than a name that is not safetensors at all.
constexpr const char* kFormatDtypes[] = {"BOOL",     "U8",  "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                         "F6_E2M3",  "F6_E3M2", "I16", "U16", "F16", "BF16", "I32", "U32",
                                         "F32",      "F64", "I64", "U64", "C64"};

// A short guess at what a non-safetensors file is, for the error message.
std::string describe_foreign(std::string_view b) {
  auto starts = [&](std::string_view magic) { return b.substr(0, magic.size()) == magic; };
  if (starts("\x89PNG\r\n\x1a\n")) return "a PNG image";
  if (starts("\xff\xd8\xff")) return "a JPEG image";
  if (starts("GIF8")) return "a GIF image";
  if (starts("\x1f\x8b")) return "gzip-compressed data (decompress it first?)";
  if (starts(std::string_view("PK\x03\x04", 4)))
    return "a zip archive, e.g. a PyTorch torch.save() .pt/.pth file (save with safetensors.torch.save_file instead)";
  if (b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x80 && b[1] >= 2 && b[1] <= 5)
    return "a Python pickle, e.g. an old torch.save() file (save with safetensors.torch.save_file instead)";
  if (starts("\x7f" "ELF")) return "an ELF executable or library";
  if (starts(std::string_view("\0\0\x08", 3))) return "an IDX (MNIST-format) data file";
  const std::size_t n = std::min<std::size_t>(b.size(), 512);
  std::size_t printable = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(b[i]);
    if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t' || c >= 0x80) ++printable;
  }
  if (n > 0 && printable == n) return "a text file";
  return "";
}

std::string foreign_suffix(std::string_view b) {
  const std::string kind = describe_foreign(b);
  return kind.empty() ? "" : " (it looks like " + kind + ")";
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin, end;
};

std::uint64_t read_le64(const char* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

// Parses the JSON header, rejecting duplicate keys at any depth (nlohmann keeps the last one).
nlohmann::json parse_header_json(std::string_view header, const std::string& name) {
  std::vector<std::set<std::string>> keys;
  auto check_keys = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) keys.emplace_back();
    if (event == E::object_end && !keys.empty()) keys.pop_back();
    if (event == E::key && !keys.empty()) {
      const auto& k = parsed.get_ref<const std::string&>();
      STRIDER_CHECK(keys.back().insert(k).second, IoError,
                    name << ": invalid safetensors header: the key \"" << k
                         << "\" appears twice in one JSON object; keys must be unique");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(header.begin(), header.end(), check_keys);
  } catch (const nlohmann::json::parse_error& e) {
    STRIDER_THROW(IoError, name << ": the safetensors header (" << header.size()
                                << " bytes from byte 8) is not valid JSON: " << e.what());
  }
}

std::uint64_t json_uint(const nlohmann::json& v, const std::string& name, const std::string& tensor, const char* field) {
  STRIDER_CHECK(v.is_number_unsigned(), IoError,
                name << ": tensor '" << tensor << "': every entry of \"" << field
                     << "\" must be a non-negative integer, found " << v.dump());
  return v.get<std::uint64_t>();
}

Entry parse_entry(const std::string& key, const nlohmann::json& info, const std::string& name, std::uint64_t data_size) {
  Entry e{key, DType::Float32, {}, 0, 0};
  STRIDER_CHECK(info.is_object(), IoError,
                name << ": tensor '" << key << "' must map to an object with \"dtype\", \"shape\" and "
                     << "\"data_offsets\", found " << info.type_name());
  for (const char* field : {"dtype", "shape", "data_offsets"})
    STRIDER_CHECK(info.contains(field), IoError, name << ": tensor '" << key << "' has no \"" << field << "\"");

  const auto& dt = info["dtype"];
  STRIDER_CHECK(dt.is_string(), IoError, name << ": tensor '" << key << "': \"dtype\" must be a string, found " << dt.dump());
  const std::string dts = dt.get<std::string>();
  if (dts == "F32") {
    e.dtype = DType::Float32;
  } else if (dts == "F64") {
    e.dtype = DType::Float64;
  } else {
    const bool known = std::find(std::begin(kFormatDtypes), std::end(kFormatDtypes), dts) != std::end(kFormatDtypes);
    STRIDER_THROW(IoError, name << ": tensor '" << key << "' has "
                                << (known ? "dtype " + dts + ", which strider does not support"
                                          : "unknown dtype \"" + dts + "\" (not a safetensors dtype)")
                                << "; strider loads F32 and F64 tensors"
                                << (known ? " (convert it first, e.g. tensor.float() in PyTorch)" : ""));
  }

  const auto& sh = info["shape"];
  STRIDER_CHECK(sh.is_array(), IoError, name << ": tensor '" << key << "': \"shape\" must be an array, found " << sh.dump());
  STRIDER_CHECK(sh.size() <= static_cast<std::size_t>(kMaxDims), IoError,
                name << ": tensor '" << key << "' has " << sh.size() << " dims; strider tensors have at most "
                     << kMaxDims);
  std::uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : sh) {
    const std::uint64_t v = json_uint(d, name, key, "shape");
    STRIDER_CHECK(v <= static_cast<std::uint64_t>(INT64_MAX), IoError,
                  name << ": tensor '" << key << "' has a dimension of " << v << ", too large");
    if (v != 0 && numel > UINT64_MAX / 8 / v) overflow = true;
    numel *= v;
    e.shape.push_back(static_cast<std::int64_t>(v));
  }
  STRIDER_CHECK(!overflow, IoError, name << ": tensor '" << key << "' has shape " << shape_str(e.shape)
                                         << " whose byte size overflows 64 bits");

  const auto& off = info["data_offsets"];
  STRIDER_CHECK(off.is_array() && off.size() == 2, IoError,
                name << ": tensor '" << key << "': \"data_offsets\" must be [begin, end], found " << off.dump());
  e.begin = json_uint(off[0], name, key, "data_offsets");
  e.end = json_uint(off[1], name, key, "data_offsets");
  STRIDER_CHECK(e.begin <= e.end, IoError,
                name << ": tensor '" << key << "' has data_offsets [" << e.begin << ", " << e.end
                     << "] with begin after end");
  STRIDER_CHECK(e.end <= data_size, IoError,
                name << ": tensor '" << key << "' has data_offsets [" << e.begin << ", " << e.end
                     << "] past the end of the data section (" << data_size
                     << " bytes): the file is truncated or its offsets are wrong");
  const std::uint64_t bytes = numel * dtype_size(e.dtype);
  STRIDER_CHECK(e.end - e.begin == bytes, IoError,
                name << ": tensor '" << key << "' has shape " << shape_str(e.shape) << " " << dts << ", which is "
                     << bytes << " bytes, but its data_offsets [" << e.begin << ", " << e.end << "] span "
                     << e.end - e.begin << " bytes");
  return e;
}

// The offsets, sorted, must tile [0, data_size) exactly: no overlaps, no gaps, nothing left over.
void check_coverage(std::vector<Entry>& entries, const std::string& name, std::uint64_t data_size) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t expected = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    STRIDER_CHECK(e.begin >= expected, IoError,
                  name << ": tensors '" << prev->name << "' [" << prev->begin << ", " << prev->end << ") and '"
                       << e.name << "' [" << e.begin << ", " << e.end << ") overlap in the data section");
    STRIDER_CHECK(e.begin == expected, IoError,
                  name << ": bytes [" << expected << ", " << e.begin << ") of the data section belong to no tensor "
                       << "(a gap before '" << e.name << "'); the data_offsets must cover the data without holes");
    expected = e.end;
    prev = &e;
  }
  STRIDER_CHECK(expected == data_size, IoError,
                name << ": the tensors cover " << expected << " bytes but the data section has " << data_size
                     << " bytes: " << data_size - expected
                     << " trailing bytes belong to no tensor (a damaged file, or data appended to it)");
}

}  // namespace

std::string safetensors_bytes(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    Tensor t;
  };
  std::vector<Item> items;
  for (const auto& [key, t] : tensors) {
    STRIDER_CHECK(!key.empty(), ValueError, "save_safetensors: a tensor has an empty name; give every tensor a name");
    STRIDER_CHECK(key != "__metadata__", ValueError,
                  "save_safetensors: \"__metadata__\" is reserved by the format; rename that tensor");
    STRIDER_CHECK(t.defined(), ValueError, "save_safetensors: tensor '" << key << "' is undefined");
    items.push_back({&key, t});
  }
  // Larger alignment first, then by name (std::map order): every F64 tensor starts 8-aligned.
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return dtype_size(a.t.dtype()) > dtype_size(b.t.dtype()); });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::uint64_t offset = 0;
  for (const Item& it : items) {
    const std::uint64_t bytes = static_cast<std::uint64_t>(it.t.numel()) * dtype_size(it.t.dtype());
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = safetensors_dtype(it.t.dtype());
    info["shape"] = it.t.shape();
    info["data_offsets"] = {offset, offset + bytes};
    header[*it.name] = std::move(info);
    offset += bytes;
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::type_error& e) {
    STRIDER_THROW(ValueError, "save_safetensors: a tensor name or metadata string is not valid UTF-8: " << e.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out(8 + json.size() + offset, '\0');
  const std::uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, json.data(), json.size());
  std::size_t at = 8 + json.size();
  for (const Item& it : items) {
    it.t.copy_to_host(out.data() + at, it.t.dtype());  // any device, any strides -> row-major
    at += static_cast<std::size_t>(it.t.numel()) * dtype_size(it.t.dtype());
  }
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name, Device device) {
  const std::uint64_t size = bytes.size();
  STRIDER_CHECK(size > 0, IoError, name << " is empty (0 bytes), not a safetensors file");
  STRIDER_CHECK(size >= 8, IoError,
                name << " is truncated or not a safetensors file: it has " << size
                     << " bytes, fewer than the 8-byte header length every safetensors file starts with"
                     << foreign_suffix(bytes));
  // A safetensors header is a JSON object: byte 8 is '{'. Anything else is a foreign file.
  if (size > 8 && bytes[8] != '{') {
    const std::string kind = describe_foreign(bytes);
    STRIDER_THROW(IoError, name << " is not a safetensors file: "
                                << (kind.empty() ? "" : "it looks like " + kind + "; ")
                                << "a safetensors file has an 8-byte header length followed by a JSON header "
                                   "starting with '{' at byte 8");
  }
  const std::uint64_t n = read_le64(bytes.data());
  STRIDER_CHECK(n <= kMaxHeaderBytes, IoError,
                name << ": the header length in the first 8 bytes is " << n << ", over the 100 MB limit: the file is "
                     << "corrupt or not a safetensors file" << foreign_suffix(bytes));
  STRIDER_CHECK(n >= 2, IoError, name << ": the header length is " << n << "; the smallest header is \"{}\" (2 bytes)");
  STRIDER_CHECK(8 + n <= size, IoError,
                name << " is truncated: its header length says the JSON header takes bytes [8, " << 8 + n
                     << ") but the file has only " << size << " bytes");

  const nlohmann::json header = parse_header_json(std::string_view(bytes).substr(8, n), name);
  STRIDER_CHECK(header.is_object(), IoError,
                name << ": the safetensors header must be a JSON object, found " << header.type_name());

  const std::uint64_t data_size = size - 8 - n;
  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      STRIDER_CHECK(value.is_object(), IoError,
                    name << ": \"__metadata__\" must be an object of strings, found " << value.type_name());
      for (const auto& [mk, mv] : value.items()) {
        STRIDER_CHECK(mv.is_string(), IoError,
                      name << ": metadata \"" << mk << "\" must be a string (the format allows only strings), found "
                           << mv.dump());
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, name, data_size));
  }
  check_coverage(entries, name, data_size);

  const char* data = bytes.data() + 8 + n;
  for (const Entry& e : entries)
    out.tensors[e.name] = Tensor::from_host(data + e.begin, e.dtype, e.shape, TensorOptions(e.dtype).device(device));
  return out;
}

SafetensorsFile load_safetensors(const std::string& path, Device device) {
  return parse_safetensors(read_file(path), path, device);
}

}  // namespace strider
