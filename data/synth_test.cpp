#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image.h"
#include "data/synth.h"
#include "tensor/parallel.h"

using namespace liednet;
using data::SynthParams;

namespace {

namespace fs = std::filesystem;

// A fresh, empty folder under the system's temporary directory.
fs::path scratch(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("liednet_synth_test_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string bytes_of(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Random values in [lo, hi] per pixel and channel: plenty of fine detail.
Tensor texture(int64_t H, int64_t W, uint64_t seed, double lo = 0.2, double hi = 0.7) {
  Generator g(seed);
  return Tensor::uniform({3, H, W}, lo, hi, g);
}

double mean_linear(const Tensor& srgb) {
  double s = 0;
  const float* d = srgb.data<float>();
  for (int64_t i = 0; i < srgb.numel(); ++i) s += data::srgb_to_linear(d[i]);
  return s / static_cast<double>(srgb.numel());
}

// Mean squared difference of neighbours, across and down.
double high_frequency_energy(const Tensor& img) {
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2);
  const float* d = img.data<float>();
  double e = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y + 1 < H; ++y)
      for (int64_t x = 0; x + 1 < W; ++x) {
        const float v = d[(c * H + y) * W + x];
        e += std::pow(d[(c * H + y) * W + x + 1] - v, 2) + std::pow(d[(c * H + y + 1) * W + x] - v, 2);
      }
  return e / static_cast<double>(C * (H - 1) * (W - 1));
}

void mean_and_variance(const Tensor& t, double* mean, double* var) {
  const std::vector<double> v = t.to_vector();
  double m = 0, q = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) q += (x - m) * (x - m);
  *mean = m;
  *var = q / static_cast<double>(v.size() - 1);
}

// Three small photos (one in a subfolder) and a file that is not an image.
fs::path make_photos(const std::string& name) {
  const fs::path dir = scratch(name);
  fs::create_directories(dir / "sub");
  data::write_png((dir / "a.png").string(), texture(40, 48, 1));
  data::write_png((dir / "c.png").string(), texture(36, 30, 2));
  data::write_png((dir / "sub" / "b.png").string(), texture(32, 32, 3));
  std::ofstream(dir / "notes.txt") << "not an image";
  return dir;
}

data::SynthTreeOptions tree_options(const fs::path& in, const fs::path& out) {
  data::SynthTreeOptions o;
  o.input = in.string();
  o.output = out.string();
  return o;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("sRGB transfer function and its inverse") {
    CHECK(data::srgb_to_linear(0.0f) == 0.0f);
    CHECK(data::srgb_to_linear(1.0f) == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(data::srgb_to_linear(0.5f) == doctest::Approx(0.214041).epsilon(1e-5));
    CHECK(data::srgb_to_linear(0.04045f) == doctest::Approx(0.04045 / 12.92).epsilon(1e-5));
    for (float v = 0.0f; v <= 1.0f; v += 0.01f)
      CHECK(data::linear_to_srgb(data::srgb_to_linear(v)) == doctest::Approx(v).epsilon(1e-5));
  }

  TEST_CASE("motion kernels are non-negative, sum to 1 and are centred on their mass") {
    SynthParams p;
    for (uint64_t seed = 0; seed < 60; ++seed) {
      Generator g(seed);
      double length = 0;
      const Tensor k = data::random_motion_kernel(p, g, &length);
      CAPTURE(seed);
      REQUIRE(k.ndim() == 2);
      const int64_t K = k.size(0), R = K / 2;
      CHECK(K % 2 == 1);
      CHECK(length >= p.blur_length.lo);
      CHECK(length <= p.blur_length.hi);
      CHECK(K <= 2 * static_cast<int64_t>(std::ceil(length)) + 3);
      double sum = 0, cy = 0, cx = 0;
      int nonzero = 0;
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const double v = k.at({i, j});
          CHECK(v >= 0);
          sum += v;
          cy += v * i;
          cx += v * j;
          nonzero += v > 0;
        }
      CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
      CHECK(std::abs(cy - R) < 1e-3);
      CHECK(std::abs(cx - R) < 1e-3);
      CHECK(nonzero >= 10);  // a path at least 10 px long covers many pixels
    }
    p.blur_length = {0, 0};
    Generator g(1);
    const Tensor none = data::random_motion_kernel(p, g);
    CHECK(none.shape() == Shape{1, 1});
    CHECK(none.item() == 1.0);
  }

  TEST_CASE("full momentum draws a straight stroke of the drawn length") {
    SynthParams p;
    p.blur_momentum = 1.0;
    p.blur_length = {20, 20};
    Generator g(4);
    const Tensor k = data::random_motion_kernel(p, g);
    // Every tap lies within a pixel and a half of the line through the stroke's ends.
    const int64_t K = k.size(0), R = K / 2;
    double far_y = 0, far_x = 0, far = 0;
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        if (k.at({i, j}) > 0 && std::hypot(i - R, j - R) > far) far = std::hypot(i - R, j - R), far_y = i - R, far_x = j - R;
    CHECK(far == doctest::Approx(10.0).epsilon(0.15));
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        if (k.at({i, j}) > 0) CHECK(std::abs((i - R) * far_x - (j - R) * far_y) / far < 1.5);
  }

  TEST_CASE("blur matches the plain convolution, reflects at edges, and a point becomes the kernel") {
    SynthParams p;
    p.blur_length = {30, 40};  // kernels larger than the image: reflection folds more than once
    for (uint64_t seed = 0; seed < 4; ++seed) {
      Generator g(seed);
      const Tensor k = data::random_motion_kernel(p, g);
      const Tensor img = texture(13, 17, seed, 0, 1);
      const std::vector<double> fast = data::blur(img, k).to_vector(), ref = data::blur_reference(img, k).to_vector();
      double worst = 0;
      for (size_t i = 0; i < fast.size(); ++i) worst = std::max(worst, std::abs(fast[i] - ref[i]));
      CHECK(worst < 1e-5);
    }
    p.blur_length = {8, 8};
    Generator g(9);
    const Tensor k = data::random_motion_kernel(p, g);
    const int64_t K = k.size(0), R = K / 2;
    Tensor point = Tensor::zeros({1, 31, 31});
    point.set({0, 15, 15}, 1.0);
    const Tensor out = data::blur(point, k);
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j) CHECK(out.at({0, 15 + i - R, 15 + j - R}) == doctest::Approx(k.at({i, j})));
    // A flat image stays flat.
    const std::vector<double> flat = data::blur(Tensor::full({3, 9, 11}, 0.25), k).to_vector();
    for (double v : flat) CHECK(v == doctest::Approx(0.25).epsilon(1e-5));
  }

  TEST_CASE("blur lowers the high-frequency energy of a texture and keeps its mean") {
    SynthParams p;
    p.blur_length = {15, 15};
    Generator g(3);
    const Tensor img = texture(64, 64, 5, 0, 1);
    const Tensor out = data::blur(img, data::random_motion_kernel(p, g));
    CHECK(high_frequency_energy(out) < 0.3 * high_frequency_energy(img));
    double m0 = 0, m1 = 0, v = 0;
    mean_and_variance(img, &m0, &v);
    mean_and_variance(out, &m1, &v);
    CHECK(m1 == doctest::Approx(m0).epsilon(0.02));
  }

  TEST_CASE("degraded images are darker by the drawn exposure") {
    SynthParams p;
    p.gamma = {1, 1};
    p.colour_cast = 0;
    const Tensor clean = texture(64, 64, 7);  // no pixel reaches the highlight threshold
    for (uint64_t seed = 0; seed < 12; ++seed) {
      Generator g(seed);
      data::SynthDraw d;
      const Tensor low = data::degrade(clean, p, g, &d);
      CAPTURE(seed);
      REQUIRE(low.shape() == clean.shape());
      const double ratio = mean_linear(low) / mean_linear(clean);
      CHECK(d.exposure >= p.exposure.lo);
      CHECK(d.exposure <= p.exposure.hi);
      CHECK(ratio == doctest::Approx(d.exposure).epsilon(0.05));
      CHECK(ratio >= 0.9 * p.exposure.lo);
      CHECK(ratio <= 1.1 * p.exposure.hi);
      for (double v : low.to_vector()) REQUIRE((v >= 0 && v <= 1));
    }
    // With the default tone curve and colour cast it is still at most the exposure, roughly.
    const SynthParams defaults;
    for (uint64_t seed = 0; seed < 6; ++seed) {
      Generator g(seed);
      data::SynthDraw d;
      const double ratio = mean_linear(data::degrade(clean, defaults, g, &d)) / mean_linear(clean);
      CHECK(ratio < 1.1 * d.exposure);  // gamma >= 1 only darkens
      CHECK(ratio > 0.6 * d.exposure);
    }
  }

  TEST_CASE("sensor noise is Poisson-Gaussian: its variance grows with the signal") {
    const double photons = 500;
    for (double level : {0.004, 0.01, 0.2, 1.0}) {  // means 2 and 5 (inversion), 100 and 500 (rejection)
      Generator g(static_cast<uint64_t>(level * 1000));
      Tensor t = Tensor::full({3, 100, 100}, level);
      data::add_sensor_noise(t, photons, 0.0, g);
      double mean = 0, var = 0;
      mean_and_variance(t, &mean, &var);
      CAPTURE(level);
      CHECK(mean == doctest::Approx(level).epsilon(0.02));
      CHECK(var == doctest::Approx(level / photons).epsilon(0.05));  // Poisson: variance = mean
    }
    Generator g(1);
    Tensor t = Tensor::full({3, 100, 100}, 0.3);
    data::add_sensor_noise(t, 0.0, 0.01, g);
    double mean = 0, var = 0;
    mean_and_variance(t, &mean, &var);
    CHECK(mean == doctest::Approx(0.3).epsilon(0.01));
    CHECK(std::sqrt(var) == doctest::Approx(0.01).epsilon(0.03));
    Tensor huge = Tensor::full({1, 10, 10}, 2.0);
    data::add_sensor_noise(huge, 1e6, 0.0, g);
    for (double v : huge.to_vector()) CHECK(v == doctest::Approx(2.0).epsilon(0.01));

    // In degrade(): brighter flat grey, same draws, larger linear spread.
    double spread[2];
    for (int i = 0; i < 2; ++i) {
      Generator same(11);
      const Tensor low = data::degrade(Tensor::full({3, 48, 48}, i == 0 ? 0.3 : 0.75), SynthParams{}, same);
      Tensor lin = Tensor::empty(low.shape());
      for (int64_t j = 0; j < low.numel(); ++j) lin.data<float>()[j] = data::srgb_to_linear(low.data<float>()[j]);
      mean_and_variance(lin, &mean, &var);
      spread[i] = std::sqrt(var);
      CHECK(spread[i] > 0);
    }
    CHECK(spread[1] > 1.3 * spread[0]);
  }

  TEST_CASE("a bright point in a dark scene streaks and stays saturated") {
    Tensor scene = Tensor::full({3, 64, 64}, 0.05);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 31; y <= 33; ++y)
        for (int64_t x = 31; x <= 33; ++x) scene.set({c, y, x}, 1.0);
    SynthParams p;
    p.blur_length = {20, 20};
    p.highlight_gain = {10, 10};
    for (uint64_t seed = 0; seed < 6; ++seed) {
      Generator g(seed);
      const Tensor low = data::degrade(scene, p, g);
      int saturated = 0, lit = 0;
      int64_t y0 = 64, y1 = 0, x0 = 64, x1 = 0;
      for (int64_t y = 0; y < 64; ++y)
        for (int64_t x = 0; x < 64; ++x) {
          const double v = std::min({low.at({0, y, x}), low.at({1, y, x}), low.at({2, y, x})});
          saturated += v >= 254.5 / 255;
          if (v > 0.5) {
            ++lit;
            y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
          }
        }
      CAPTURE(seed);
      CHECK(saturated >= 1);
      CHECK(lit > 30);                           // the 9 lit pixels spread out
      CHECK(std::hypot(y1 - y0, x1 - x0) >= 8);  // along a stroke, not a blob
    }
    // Without the boost the same light comes out dim: the boost is what makes it streak.
    p.highlight_gain = {0, 0};
    Generator g(0);
    const std::vector<double> dim = data::degrade(scene, p, g).to_vector();
    CHECK(*std::max_element(dim.begin(), dim.end()) < 0.6);
  }

  TEST_CASE("area resize averages the covered area") {
    Tensor img = Tensor::from_vector({1, 2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
    Tensor half = data::resize_area(img, 1, 2);
    CHECK(half.at({0, 0, 0}) == doctest::Approx(2.5));  // (0 + 1 + 4 + 5) / 4
    CHECK(half.at({0, 0, 1}) == doctest::Approx(4.5));
    Tensor row = Tensor::from_vector({1, 1, 3}, {0, 1, 2});
    Tensor two = data::resize_area(row, 1, 2);  // each output covers 1.5 inputs
    CHECK(two.at({0, 0, 0}) == doctest::Approx(1.0 / 3));
    CHECK(two.at({0, 0, 1}) == doctest::Approx(5.0 / 3));
    const std::vector<double> flat = data::resize_area(Tensor::full({3, 37, 23}, 0.4), 16, 9).to_vector();
    for (double v : flat) CHECK(v == doctest::Approx(0.4).epsilon(1e-5));
    CHECK(data::resize_area(row, 1, 6).to_vector() == std::vector<double>{0, 0, 1, 1, 2, 2});
  }

  TEST_CASE("synth tree: layout, names, variants and the log") {
    const fs::path in = make_photos("layout_in"), out = scratch("layout_out");
    data::SynthTreeOptions o = tree_options(in, out);
    data::SynthTreeResult r = data::write_synth_tree(o);
    CHECK(r.photos == 3);
    CHECK(r.names == std::vector<std::string>{"a.png", "c.png", "sub/b.png"});
    for (const std::string& n : r.names) {
      CHECK(fs::exists(out / "low_blur_noise" / n));
      // Whole images: the ground truth is the photo itself.
      CHECK(data::read_image((out / "high_sharp_scaled" / n).string()).to_vector() ==
            data::read_image((in / n).string()).to_vector());
    }
    CHECK(data::read_image((out / "low_blur_noise/c.png").string()).shape() == Shape{3, 36, 30});

    const fs::path out2 = scratch("layout_variants");
    o = tree_options(in, out2);
    o.count = 7;
    o.size_h = o.size_w = 24;
    r = data::write_synth_tree(o);
    CHECK(r.names == std::vector<std::string>{"a_0.png", "c_0.png", "sub/b_0.png", "a_1.png", "c_1.png",
                                              "sub/b_1.png", "a_2.png"});
    for (const std::string& n : r.names)
      for (const char* side : {"low_blur_noise", "high_sharp_scaled"})
        CHECK(data::read_image((out2 / side / n).string()).shape() == Shape{3, 24, 24});
    CHECK(bytes_of(out2 / "low_blur_noise/a_0.png") != bytes_of(out2 / "low_blur_noise/a_1.png"));
    CHECK(bytes_of(out2 / "high_sharp_scaled/a_0.png") != bytes_of(out2 / "high_sharp_scaled/a_1.png"));
    const std::string log = bytes_of(out2 / "synth_log.tsv");
    CHECK(std::count(log.begin(), log.end(), '\n') == 2 + 7);
    CHECK(log.find("sub/b_1.png\tsub/b.png\t") != std::string::npos);

    // Fewer outputs than photos: the first ones in sorted order.
    const fs::path out3 = scratch("layout_fewer");
    o = tree_options(in, out3);
    o.count = 2;
    CHECK(data::write_synth_tree(o).names == std::vector<std::string>{"a.png", "c.png"});

    // An output folder inside the input is not read back as photos.
    o = tree_options(in, in / "synth");
    CHECK(data::write_synth_tree(o).photos == 3);
    CHECK(data::write_synth_tree(o).photos == 3);
    for (const fs::path& p : {in, out, out2, out3}) fs::remove_all(p);
  }

  TEST_CASE("synth tree: the same seed gives the same bytes on any thread count") {
    const fs::path in = make_photos("det_in");
    const int threads = num_threads();
    auto run = [&](const std::string& name, uint64_t seed, int n_threads) {
      set_num_threads(n_threads);
      const fs::path out = scratch(name);
      data::SynthTreeOptions o = tree_options(in, out);
      o.seed = seed;
      o.count = 5;
      o.size_h = 20;
      o.size_w = 28;
      const data::SynthTreeResult r = data::write_synth_tree(o);
      std::vector<std::string> files;
      for (const std::string& n : r.names)
        for (const char* side : {"low_blur_noise", "high_sharp_scaled"}) files.push_back(bytes_of(out / side / n));
      files.push_back(bytes_of(out / "synth_log.tsv"));
      fs::remove_all(out);
      return files;
    };
    const auto a = run("det_a", 5, 1), b = run("det_b", 5, 3), c = run("det_c", 6, 3);
    set_num_threads(threads);
    CHECK(a == b);
    REQUIRE(a.size() == c.size());
    CHECK(a[0] != c[0]);  // another seed: other crops and degradations
    CHECK(a[1] != c[1]);
    CHECK(data::synth_seed(5, 0) != data::synth_seed(5, 1));
    CHECK(data::synth_seed(5, 0) != data::synth_seed(6, 0));
    fs::remove_all(in);
  }

  TEST_CASE("synth tree: bad input is an error naming the folder or file") {
    const fs::path out = scratch("bad_out");
    CHECK_THROWS_WITH(data::write_synth_tree(tree_options("/nonexistent/photos", out)),
                      doctest::Contains("/nonexistent/photos: no such folder"));
    const fs::path empty = scratch("bad_empty");
    std::ofstream(empty / "readme.txt") << "no photos here";
    CHECK_THROWS_WITH(data::write_synth_tree(tree_options(empty / "readme.txt", out)), doctest::Contains("readme.txt: not a folder"));
    CHECK_THROWS_WITH(data::write_synth_tree(tree_options(empty, out)), doctest::Contains("no images"));
    const fs::path broken = make_photos("bad_broken");
    std::ofstream(broken / "sub" / "broken.png") << "not a PNG at all";
    {  // a photo that cannot be read is named; the others and their log are written
      const fs::path broken_out = scratch("bad_broken_out");
      const data::SynthTreeResult r = data::write_synth_tree(tree_options(broken, broken_out));
      REQUIRE(r.bad.size() == 1);
      CHECK(r.bad[0].find("sub/broken.png: cannot decode image") != std::string::npos);
      CHECK(r.names.size() == static_cast<size_t>(r.photos) - 1);
      CHECK(std::find(r.names.begin(), r.names.end(), "sub/broken.png") == r.names.end());
      CHECK(!fs::exists(broken_out / "low_blur_noise" / "sub" / "broken.png"));
      const std::string log = bytes_of(broken_out / "synth_log.tsv");
      CHECK(static_cast<size_t>(std::count(log.begin(), log.end(), '\n')) == 2 + r.names.size());
      CHECK(log.find("sub/broken.png") == std::string::npos);
      fs::remove_all(broken_out);
    }
    const fs::path twins = make_photos("bad_twins");
    data::write_png((twins / "a.bmp").string(), texture(8, 8, 1));  // PNG bytes; decoders look at the content
    CHECK_THROWS_WITH(data::write_synth_tree(tree_options(twins, out)), doctest::Contains("would both be written as a.png"));
    data::SynthTreeOptions o = tree_options(twins, out);
    o.size_h = 0;
    o.size_w = 8;
    CHECK_THROWS_WITH(data::write_synth_tree(o), doctest::Contains("--size"));
    for (const fs::path& p : {out, empty, broken, twins}) fs::remove_all(p);
  }

  TEST_CASE("synth config: the repository's file is the defaults; mistakes name file, line and key") {
    const fs::path repo_config = fs::path(__FILE__).parent_path().parent_path() / "configs" / "synth.yml";
    const SynthParams f = data::load_synth_config(repo_config.string()), d;
    auto same = [](const data::Range& a, const data::Range& b) { return a.lo == b.lo && a.hi == b.hi; };
    CHECK(same(f.blur_length, d.blur_length));
    CHECK(f.blur_steps == d.blur_steps);
    CHECK(f.blur_momentum == d.blur_momentum);
    CHECK(f.blur_jerk_prob == d.blur_jerk_prob);
    CHECK(f.highlight_threshold == d.highlight_threshold);
    CHECK(same(f.highlight_gain, d.highlight_gain));
    CHECK(same(f.exposure, d.exposure));
    CHECK(f.colour_cast == d.colour_cast);
    CHECK(same(f.gamma, d.gamma));
    CHECK(same(f.photons, d.photons));
    CHECK(same(f.read_noise, d.read_noise));

    const SynthParams q = data::parse_synth_config("# c\n\nexposure: 0.1   # fixed\nblur_length: [ 5 , 6 ]\n", "x.yml");
    CHECK(same(q.exposure, {0.1, 0.1}));
    CHECK(same(q.blur_length, {5, 6}));
    CHECK_THROWS_WITH(data::parse_synth_config("exposure: 0.1\nbogus: 3\n", "x.yml"),
                      doctest::Contains("x.yml:2: unknown key 'bogus'"));
    CHECK_THROWS_WITH(data::parse_synth_config("exposure: [0.3, 0.1]\n", "x.yml"), doctest::Contains("x.yml: exposure"));
    CHECK_THROWS_WITH(data::parse_synth_config("photons: lots\n", "x.yml"), doctest::Contains("x.yml:1: photons"));
    CHECK_THROWS_WITH(data::parse_synth_config("blur_steps: 6.5\n", "x.yml"), doctest::Contains("blur_steps"));
    CHECK_THROWS_WITH(data::parse_synth_config("gamma: 1\ngamma: 2\n", "x.yml"), doctest::Contains("given twice"));
    CHECK_THROWS_WITH(data::parse_synth_config("blur_momentum 0.5\n", "x.yml"), doctest::Contains("x.yml:1: expected"));
    CHECK_THROWS_WITH(data::load_synth_config("/nonexistent/synth.yml"), doctest::Contains("/nonexistent/synth.yml"));
  }
}
