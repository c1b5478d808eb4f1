// core/file_io: atomic writes (and what a failure leaves), reads, mkdir -p, appends, gzip.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <strider/core/file_io.hpp>

#include "io/io_test_util.hpp"

namespace strider {
namespace {

using testing::IoTest;
using testing::read_raw;
using testing::write_raw;

class FileIo : public IoTest {};

TEST_F(FileIo, AtomicWriteCreatesAndReplaces) {
  const std::string p = path("out.bin");
  const std::string bytes("a\0b\xff\n", 5);
  write_file_atomic(p, bytes);
  EXPECT_EQ(read_raw(p), bytes);
  EXPECT_EQ(read_file(p), bytes);
  write_file_atomic(p, "second, longer contents");
  EXPECT_EQ(read_file(p), "second, longer contents");
  write_file_atomic(p, "");
  EXPECT_EQ(read_file(p), "");
  EXPECT_EQ(files_in(), std::vector<std::string>{"out.bin"}) << "a temporary file was left behind";
}

TEST_F(FileIo, AtomicWriteIntoAFileAsDirectoryNamesPathOperationAndReason) {
  write_raw(path("notadir"), "x");
  const std::string target = path("notadir") + "/ckpt.safetensors";
  STRIDER_EXPECT_THROW_MSG(write_file_atomic(target, "data"), IoError, "cannot create", target + ".tmp-",
                           "Not a directory");
  EXPECT_EQ(read_raw(path("notadir")), "x");
}

TEST_F(FileIo, AtomicWriteIntoMissingDirectorySaysHowToFixIt) {
  const std::string target = path("missing") + "/ckpt.safetensors";
  STRIDER_EXPECT_THROW_MSG(write_file_atomic(target, "data"), IoError, "cannot create", "No such file or directory",
                           "ensure_directory");
}

TEST_F(FileIo, AtomicWriteIntoReadOnlyDirectoryAsksIfItIsWritable) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: directory permissions do not stop root";
  ensure_directory(path("ro"));
  write_file_atomic(path("ro/ckpt.safetensors"), "old");
  ASSERT_EQ(::chmod(path("ro").c_str(), 0555), 0);
  STRIDER_EXPECT_THROW_MSG(write_file_atomic(path("ro/ckpt.safetensors"), "new"), IoError,
                           "cannot create " + path("ro/ckpt.safetensors.tmp-"), "Permission denied",
                           "is the output directory writable?");
  ASSERT_EQ(::chmod(path("ro").c_str(), 0755), 0);
  EXPECT_EQ(read_file(path("ro/ckpt.safetensors")), "old");
}

// A write that fails halfway (here: the file-size limit, EFBIG; the same path as a full disk)
// leaves the old file as it was and no temporary file. Works as root too.
TEST_F(FileIo, FailedWriteLeavesOldFileIntactAndNoTemporary) {
  const std::string p = path("ckpt.safetensors");
  write_file_atomic(p, "old contents");
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  if (old_limit.rlim_cur != RLIM_INFINITY && old_limit.rlim_cur < 8192) GTEST_SKIP() << "file size limit already tiny";
  struct sigaction ignore {}, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  std::string msg;
  try {
    write_file_atomic(p, std::string(1 << 20, 'n'));
  } catch (const IoError& e) {
    threw = true;
    msg = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_TRUE(threw) << "the write past the file size limit did not fail";
  EXPECT_NE(msg.find("cannot write " + p + ".tmp-"), std::string::npos) << msg;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
  EXPECT_EQ(read_file(p), "old contents");
  EXPECT_EQ(files_in(), std::vector<std::string>{"ckpt.safetensors"}) << "the temporary file was not removed";
}

TEST_F(FileIo, AtomicWriteRejectsADirectoryPath) {
  STRIDER_EXPECT_THROW_MSG(write_file_atomic(path("d") + "/", "x"), IoError, "names a directory");
}

TEST_F(FileIo, ReadFileErrorsNameTheFile) {
  STRIDER_EXPECT_THROW_MSG(read_file(path("nope.bin")), IoError, "cannot open " + path("nope.bin"),
                           "No such file or directory");
  STRIDER_EXPECT_THROW_MSG(read_file(dir_.string()), IoError, dir_.string(), "directory");
}

TEST_F(FileIo, EnsureDirectoryIsMkdirP) {
  const std::string deep = path("a/b/c");
  ensure_directory(deep);
  EXPECT_TRUE(std::filesystem::is_directory(deep));
  ensure_directory(deep);  // exists: fine
  ensure_directory(deep + "/");
  write_file_atomic(deep + "/f", "x");
  EXPECT_EQ(read_file(deep + "/f"), "x");
}

TEST_F(FileIo, EnsureDirectoryOverAFileIsAClearError) {
  write_raw(path("file"), "x");
  STRIDER_EXPECT_THROW_MSG(ensure_directory(path("file")), IoError, path("file"), "exists and is not a directory");
  STRIDER_EXPECT_THROW_MSG(ensure_directory(path("file/sub")), IoError, "cannot create directory " + path("file/sub"),
                           path("file") + " exists and is not a directory");
  STRIDER_EXPECT_THROW_MSG(ensure_directory(""), IoError, "empty");
}

TEST_F(FileIo, AppendFileAppends) {
  append_file(path("log"), "a\n");
  append_file(path("log"), "b\n", /*sync=*/false);
  EXPECT_EQ(read_file(path("log")), "a\nb\n");
  STRIDER_EXPECT_THROW_MSG(append_file(path("missing/log"), "x"), IoError, path("missing/log"));
}

TEST_F(FileIo, GunzipRoundTripAndMultipleMembers) {
  std::string raw;
  for (int i = 0; i < 100000; ++i) raw += static_cast<char>(i * 7 % 251);
  const std::string gz = testing::gzip(raw);
  EXPECT_TRUE(is_gzip(gz));
  EXPECT_FALSE(is_gzip(raw));
  EXPECT_EQ(gunzip(gz, "x.gz"), raw);
  EXPECT_EQ(gunzip(gz + testing::gzip("tail"), "x.gz"), raw + "tail");
  write_raw(path("d.gz"), gz);
  write_raw(path("d.raw"), raw);
  EXPECT_EQ(read_file_maybe_gzip(path("d.gz")), raw);
  EXPECT_EQ(read_file_maybe_gzip(path("d.raw")), raw);
}

TEST_F(FileIo, GunzipTruncatedCorruptAndTrailingGarbage) {
  const std::string gz = testing::gzip(std::string(50000, 'q') + "end");
  STRIDER_EXPECT_THROW_MSG(gunzip(gz.substr(0, gz.size() / 2), "data.gz"), IoError, "data.gz", "truncated gzip");
  STRIDER_EXPECT_THROW_MSG(gunzip(gz.substr(0, gz.size() - 3), "data.gz"), IoError, "data.gz", "truncated gzip");
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 0x55;  // the CRC32 in the trailer
  STRIDER_EXPECT_THROW_MSG(gunzip(bad_crc, "data.gz"), IoError, "data.gz", "corrupt gzip data", "incorrect data check");
  std::string bad_method = gz;
  bad_method[2] = 7;  // compression method: only 8 (deflate) exists
  STRIDER_EXPECT_THROW_MSG(gunzip(bad_method, "data.gz"), IoError, "data.gz", "corrupt gzip data");
  STRIDER_EXPECT_THROW_MSG(gunzip(gz + "garbage", "data.gz"), IoError, "data.gz", "non-gzip data");
  EXPECT_EQ(gunzip(gz + std::string(4, '\0'), "data.gz").size(), 50003u);  // zero padding is fine
  STRIDER_EXPECT_THROW_MSG(gunzip("plain text", "t.txt"), IoError, "t.txt", "not gzip");
}

}  // namespace
}  // namespace strider
