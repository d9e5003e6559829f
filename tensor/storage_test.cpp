#include <doctest/doctest.h>

#include <cstring>

#include "tensor/storage.h"

using namespace liednet;

TEST_SUITE("tensor") {
  TEST_CASE("large host storages are whole pages, counted, and a freed one is reused for the same size") {
#if defined(__SANITIZE_ADDRESS__)
    MESSAGE("skipped: under ASan every host block is heap memory (tensor/storage.cpp), so ASan guards it");
    return;
#endif
    const size_t bytes = (size_t(3) << 20) + 100;  // over the 1 MiB at which blocks are mapped pages
    const size_t before = host_bytes_in_use();
    void* first = nullptr;
    {
      std::shared_ptr<Storage> s = Storage::allocate(bytes, Device::CPU);
      CHECK(s->bytes() % 4096 == 0);
      CHECK(s->bytes() >= bytes);
      CHECK(s->bytes() < bytes + 4096);
      CHECK(host_bytes_in_use() - before == s->bytes());
      std::memset(s->data(), 0x5a, bytes);
      CHECK(static_cast<unsigned char*>(s->data())[bytes - 1] == 0x5a);
      first = s->data();
    }
    CHECK(host_bytes_in_use() == before);
    std::shared_ptr<Storage> again = Storage::allocate(bytes, Device::CPU);
    CHECK(again->data() == first);  // kept on free, handed out again
    std::shared_ptr<Storage> other = Storage::allocate(bytes, Device::CPU);
    CHECK(other->data() != first);
  }

  TEST_CASE("small host storages stay 64-byte aligned and rounded to 64 bytes") {
    const size_t before = host_bytes_in_use();
    std::shared_ptr<Storage> s = Storage::allocate(1000, Device::CPU);
    CHECK(reinterpret_cast<uintptr_t>(s->data()) % 64 == 0);
    CHECK(host_bytes_in_use() - before == 1024);
  }
}
