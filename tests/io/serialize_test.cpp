// core/serialize: safetensors round trips, the exact bytes written (against a hand-built file
// and one written by Python's safetensors), and every way a file can be broken.
#include <cmath>
#include <cstring>
#include <limits>

#include <strider/core/file_io.hpp>
#include <strider/core/serialize.hpp>

#include "io/io_test_util.hpp"

namespace strider {
namespace {

using testing::IoTest;
using testing::write_raw;

class Safetensors : public IoTest {};

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
template <class T> std::string raw_bytes(std::initializer_list<T> v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}
// A file from a header (padded with spaces to 8 bytes, as the format asks) and data bytes.
std::string make_file(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}

// The tensors of tests/io/check_safetensors_with_python.py (reference_tensors()).
std::map<std::string, Tensor> reference_tensors() {
  return {{"a_f32", Tensor::from_vector(std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}, {2, 3})},
          {"b_f64", Tensor::from_vector(std::vector<double>{1.5, -2.25, 1e300}, {3}, DType::Float64)},
          {"empty", Tensor::zeros({0, 4})},
          {"scalar", Tensor::scalar(3.25)},
          {"z_f64", Tensor::from_vector(std::vector<double>{1e-300, -0.0, std::numeric_limits<double>::infinity(), -7.0},
                                        {2, 2}, DType::Float64)}};
}

void expect_bit_equal(const Tensor& got, const Tensor& want, const std::string& name) {
  EXPECT_EQ(got.dtype(), want.dtype()) << name;
  EXPECT_EQ(got.shape(), want.shape()) << name;
  ASSERT_EQ(got.numel(), want.numel()) << name;
  if (want.dtype() == DType::Float64) {
    const auto a = got.to_vector<double>(), b = want.to_vector<double>();
    EXPECT_TRUE(a.empty() || std::memcmp(a.data(), b.data(), a.size() * 8) == 0) << name << ": values differ";
  } else {
    const auto a = got.to_vector<float>(), b = want.to_vector<float>();
    EXPECT_TRUE(a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0) << name << ": values differ";
  }
}

TEST_F(Safetensors, RoundTripDtypesShapesViewsAndMetadata) {
  Generator gen(7);
  const Tensor base = Tensor::randn({4, 6}, gen);
  std::map<std::string, Tensor> tensors = reference_tensors();
  tensors["transposed"] = base.t();                        // non-contiguous
  tensors["strided"] = base.slice(1, 1, 6, 2);             // step 2
  tensors["expanded"] = Tensor::randn({3, 1}, gen).expand({3, 5});  // stride 0
  tensors["f64_4d"] = Tensor::randn({2, 1, 3, 2}, gen, DType::Float64);
  tensors["with space/and.dots"] = Tensor::ones({1});
  const std::map<std::string, std::string> meta = {{"epoch", "3"}, {"note", "ü, \"quoted\"\n"}, {"empty", ""}};
  save_safetensors(path("m.safetensors"), tensors, meta);
  const SafetensorsFile f = load_safetensors(path("m.safetensors"));
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(f.tensors.count(name)) << name;
    const Tensor& got = f.tensors.at(name);
    EXPECT_TRUE(got.device().is_cpu());
    EXPECT_TRUE(got.is_contiguous());
    expect_bit_equal(got, t, name);
  }
  EXPECT_EQ(f.tensors.at("scalar").dim(), 0);
  EXPECT_EQ(f.tensors.at("empty").shape(), (Shape{0, 4}));
}

TEST_F(Safetensors, NoTensorsAndNoMetadata) {
  save_safetensors(path("e.safetensors"), {});
  EXPECT_EQ(read_file(path("e.safetensors")), le64(8) + "{}      ");
  const SafetensorsFile f = load_safetensors(path("e.safetensors"));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

TEST_F(Safetensors, DeviceTensorsAreCopiedToHostAndLoadOntoADevice) {
  for (const Device d : testing::test_devices()) {
    Generator gen(3);
    const Tensor t = Tensor::randn({3, 4}, gen, TensorOptions().device(d));
    save_safetensors(path("d.safetensors"), {{"t", t.t()}});
    const SafetensorsFile f = load_safetensors(path("d.safetensors"), d);
    EXPECT_EQ(f.tensors.at("t").device(), d);
    expect_bit_equal(f.tensors.at("t").cpu(), t.t().cpu(), d.str());
  }
}

// The bytes, by hand: 8-byte little-endian length, compact JSON with __metadata__ first, F64
// tensors before F32, each group by name, spaces to an 8-byte boundary, row-major data.
TEST_F(Safetensors, ByteExactLayout) {
  const std::string bytes = safetensors_bytes(
      {{"b", Tensor::from_vector(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}).t()},
       {"a", Tensor::from_vector(std::vector<double>{0.5}, {1}, DType::Float64)},
       {"c", Tensor::scalar(-1.0)}},
      {{"k", "v"}});
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},"c":{"dtype":"F32","shape":[],"data_offsets":[24,28]}})";
  ASSERT_EQ(header.size(), 189u);
  const std::string expected = le64(192) + header + std::string(3, ' ') + raw_bytes<double>({0.5}) +
                               raw_bytes<float>({1.0f, 3.0f, 2.0f, 4.0f}) + raw_bytes<float>({-1.0f});
  EXPECT_EQ(bytes.size(), expected.size());
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(std::string(bytes.begin() + 8, bytes.begin() + 200), header + "   ");
}

// tests/fixtures/io/python_reference.safetensors was written by Python's safetensors
// (tests/io/check_safetensors_with_python.py --write-fixture): strider reads it and writes the
// same bytes for the same tensors.
TEST_F(Safetensors, MatchesPythonReferenceFileByteForByte) {
  const std::string fixture = std::string(STRIDER_IO_FIXTURES) + "/python_reference.safetensors";
  const SafetensorsFile f = load_safetensors(fixture);
  const auto ref = reference_tensors();
  ASSERT_EQ(f.tensors.size(), ref.size());
  for (const auto& [name, t] : ref) expect_bit_equal(f.tensors.at(name), t, name);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(safetensors_bytes(ref, {{"format", "pt"}}), read_file(fixture));
}

// Leaves build/tests/io/interop.safetensors for check_safetensors_with_python.py.
TEST_F(Safetensors, WritesInteropFileForPython) {
  const std::string out = std::string(STRIDER_IO_BUILD_DIR) + "/interop.safetensors";
  save_safetensors(out, reference_tensors(), {{"format", "pt"}});
  EXPECT_EQ(load_safetensors(out).tensors.size(), 5u);
}

TEST_F(Safetensors, SaveRejectsBadInput) {
  STRIDER_EXPECT_THROW_MSG(safetensors_bytes({{"x", Tensor()}}), ValueError, "'x'", "undefined");
  STRIDER_EXPECT_THROW_MSG(safetensors_bytes({{"__metadata__", Tensor::ones({1})}}), ValueError, "reserved");
  STRIDER_EXPECT_THROW_MSG(safetensors_bytes({{"", Tensor::ones({1})}}), ValueError, "empty name");
  STRIDER_EXPECT_THROW_MSG(safetensors_bytes({{"bad\xff", Tensor::ones({1})}}), ValueError, "UTF-8");
  write_raw(path("file"), "x");
  STRIDER_EXPECT_THROW_MSG(save_safetensors(path("file") + "/c.safetensors", {{"x", Tensor::ones({1})}}), IoError,
                           "cannot create", "c.safetensors.tmp-");
}

// ---- broken files ----------------------------------------------------------------------------

class SafetensorsErrors : public IoTest {
 protected:
  // Writes `bytes` to a file and expects load_safetensors to throw IoError naming the file and
  // saying each of `parts`.
  void expect_error(const std::string& bytes, const std::vector<std::string>& parts) {
    const std::string p = path("broken.safetensors");
    write_raw(p, bytes);
    try {
      (void)load_safetensors(p);
      ADD_FAILURE() << "no error for a broken file; expected one saying: " << parts.front();
    } catch (const IoError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks the path:\n  " << msg;
      for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "lacks \"" << part << "\":\n  " << msg;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected IoError, got: " << e.what();
    }
  }
  const std::string f32x2_ = raw_bytes<float>({1.0f, 2.0f});
};

TEST_F(SafetensorsErrors, MissingFile) {
  STRIDER_EXPECT_THROW_MSG(load_safetensors(path("none.safetensors")), IoError, path("none.safetensors"),
                           "No such file");
}

TEST_F(SafetensorsErrors, EmptyAndTooShort) {
  expect_error("", {"is empty"});
  expect_error(std::string("\x10\0\0", 3), {"3 bytes", "8-byte header length"});
}

TEST_F(SafetensorsErrors, TruncatedHeaderAndData) {
  const std::string good = safetensors_bytes({{"w", Tensor::ones({4, 4})}});
  expect_error(good.substr(0, 8), {"is truncated", "file has only 8 bytes"});
  expect_error(good.substr(0, 40), {"is truncated", "header", "only 40 bytes"});
  expect_error(good.substr(0, good.size() - 4), {"'w'", "past the end of the data section", "truncated"});
}

TEST_F(SafetensorsErrors, ForeignFiles) {
  expect_error(std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), {"not a safetensors file", "PNG image"});
  expect_error("hello, this is just some text\nand more text\n", {"not a safetensors file", "text file"});
  expect_error(testing::gzip("a text file, gzipped"), {"not a safetensors file", "gzip"});
  expect_error(std::string("PK\x03\x04\x14\0\0\0\0\0", 10), {"not a safetensors file", "torch.save"});
  expect_error(std::string("\0\0\x08\x03\0\0\0\x01\0\0\0\x02", 12), {"not a safetensors file", "IDX"});
  expect_error(le64(1ull << 40) + "{" + std::string(20, ' '), {"over the 100 MB limit"});
  expect_error(make_file("[1, 2]", ""), {"not a safetensors file"});
}

TEST_F(SafetensorsErrors, InvalidJson) {
  expect_error(make_file(R"({"w": {"dtype": "F32", )", ""), {"not valid JSON"});
  expect_error(make_file("{\"w\xff\": 1}", ""), {"not valid JSON"});
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         f32x2_),
               {"\"a\" appears twice"});
}

TEST_F(SafetensorsErrors, Dtypes) {
  expect_error(make_file(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')),
               {"'h'", "dtype F16", "does not support", "F32 and F64"});
  expect_error(make_file(R"({"q":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", f32x2_),
               {"'q'", "unknown dtype \"Q7\"", "F32 and F64"});
  expect_error(make_file(R"({"q":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", f32x2_), {"must be a string"});
}

TEST_F(SafetensorsErrors, ShapesAndFields) {
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2_),
               {"'w'", "shape [3] F32", "12 bytes", "span 8 bytes"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2_),
               {"'w'", "non-negative integer", "-2"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", f32x2_), {"non-negative integer"});
  expect_error(make_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", f32x2_), {"'w'", "has no \"shape\""});
  expect_error(make_file(R"({"w":[1,2]})", f32x2_), {"'w'", "must map to an object"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", f32x2_),
               {"9 dims"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", f32x2_),
               {"overflows"});
}

TEST_F(SafetensorsErrors, Offsets) {
  const std::string f32x3 = raw_bytes<float>({1.0f, 2.0f, 3.0f});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,12]}})", f32x2_), {"[begin, end]"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2_), {"begin after end"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})", f32x2_),
               {"[16, 24]", "past the end of the data section (8 bytes)"});
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         f32x3),
               {"'a' [0, 8)", "'b' [4, 12)", "overlap"});
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                         f32x3),
               {"bytes [4, 8)", "belong to no tensor", "'b'"});
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32x3),
               {"cover 4 bytes", "12 bytes", "8 trailing bytes"});
}

TEST_F(SafetensorsErrors, Metadata) {
  expect_error(make_file(R"({"__metadata__":{"epoch":3}})", ""), {"metadata \"epoch\"", "must be a string"});
  expect_error(make_file(R"({"__metadata__":["a"]})", ""), {"\"__metadata__\" must be an object"});
}

}  // namespace
}  // namespace strider
