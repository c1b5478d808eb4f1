#include <strider/models/dcgan.hpp>

#include <cmath>
#include <sstream>
#include <vector>

#include <strider/core/autograd.hpp>
#include <strider/core/error.hpp>
#include <strider/layers/activation.hpp>
#include <strider/layers/batchnorm.hpp>
#include <strider/layers/conv.hpp>
#include <strider/layers/init.hpp>
#include <strider/layers/linear.hpp>

namespace strider::models {

namespace {

bool layout_of(std::int64_t size, DcganLayout& out) {
  for (int doublings = 1; doublings < 20; ++doublings) {
    const std::int64_t scale = std::int64_t{1} << doublings;
    if (size % scale != 0) break;
    const std::int64_t base = size / scale;
    if (base >= 4 && base <= 7) {
      out = {static_cast<int>(base), doublings};
      return true;
    }
  }
  return false;
}

}  // namespace

DcganLayout dcgan_layout(std::int64_t image_size) {
  DcganLayout layout;
  if (image_size >= 8 && layout_of(image_size, layout)) return layout;
  std::int64_t below = image_size - 1, above = image_size + 1;
  DcganLayout tmp;
  while (below >= 8 && !layout_of(below, tmp)) --below;
  while (!layout_of(above, tmp)) ++above;
  std::ostringstream nearest;
  if (below >= 8) nearest << below << " or ";
  nearest << above;
  STRIDER_THROW(ShapeError,
                "image size " << image_size << " cannot be reached by the DCGAN recipe (a base of 4 to 7 pixels doubled "
                              "one or more times: 8..14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, ...). "
                              "Use image size " << nearest.str()
                              << " (the data is resized to it), or describe your own layers with --generator and "
                                 "--discriminator");
}

std::shared_ptr<nn::Sequential> make_generator(const DcganConfig& c, Generator& gen) {
  if (!c.generator_text.empty()) {
    auto g = parse_architecture(c.generator_text, "generator");
    dcgan_init(*g, gen);
    return g;
  }
  STRIDER_CHECK(c.nz >= 1 && c.ngf >= 1 && c.nc >= 1, ValueError,
                "DCGAN generator: nz " << c.nz << ", ngf " << c.ngf << " and nc " << c.nc << " must all be >= 1");
  const DcganLayout l = dcgan_layout(c.image_size);
  auto g = std::make_shared<nn::Sequential>();
  std::int64_t ch = c.ngf << (l.doublings - 1);
  g->append(std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(c.nz, ch, l.base).bias(false), gen));
  g->append(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(ch)));
  g->append(std::make_shared<nn::ReLU>());
  for (int i = 1; i < l.doublings; ++i) {
    g->append(std::make_shared<nn::ConvTranspose2d>(
        nn::ConvTranspose2dOptions(ch, ch / 2, 4).stride(2).padding(1).bias(false), gen));
    ch /= 2;
    g->append(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(ch)));
    g->append(std::make_shared<nn::ReLU>());
  }
  g->append(std::make_shared<nn::ConvTranspose2d>(
      nn::ConvTranspose2dOptions(ch, c.nc, 4).stride(2).padding(1).bias(false), gen));
  g->append(std::make_shared<nn::Tanh>());
  g->set_name("generator");
  dcgan_init(*g, gen);
  return g;
}

std::shared_ptr<nn::Sequential> make_discriminator(const DcganConfig& c, Generator& gen) {
  if (!c.discriminator_text.empty()) {
    auto d = parse_architecture(c.discriminator_text, "discriminator");
    dcgan_init(*d, gen);
    return d;
  }
  STRIDER_CHECK(c.ndf >= 1 && c.nc >= 1, ValueError,
                "DCGAN discriminator: ndf " << c.ndf << " and nc " << c.nc << " must be >= 1");
  const DcganLayout l = dcgan_layout(c.image_size);
  auto d = std::make_shared<nn::Sequential>();
  std::int64_t ch = c.ndf;
  d->append(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(c.nc, ch, 4).stride(2).padding(1).bias(false), gen));
  d->append(std::make_shared<nn::LeakyReLU>(0.2));
  for (int i = 1; i < l.doublings; ++i) {
    d->append(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(ch, ch * 2, 4).stride(2).padding(1).bias(false), gen));
    ch *= 2;
    d->append(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(ch)));
    d->append(std::make_shared<nn::LeakyReLU>(0.2));
  }
  d->append(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(ch, 1, l.base).bias(false), gen));
  d->append(std::make_shared<nn::Sigmoid>());
  d->set_name("discriminator");
  dcgan_init(*d, gen);
  return d;
}

void dcgan_init(nn::Module& model, Generator& gen) {
  NoGradGuard no_grad;
  for (const auto& [name, module] : model.named_modules()) {
    (void)name;
    auto* m = const_cast<nn::Module*>(module.get());
    if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) {
      nn::init::normal_(conv->weight, 0.0, 0.02, gen);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* convt = dynamic_cast<nn::ConvTranspose2d*>(m)) {
      nn::init::normal_(convt->weight, 0.0, 0.02, gen);
      if (convt->bias.defined()) nn::init::zeros_(convt->bias);
    } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      if (bn->weight.defined()) {
        nn::init::normal_(bn->weight, 1.0, 0.02, gen);
        nn::init::zeros_(bn->bias);
      }
    }
  }
}

// ---- text architectures ----------------------------------------------------------------------

namespace {

std::vector<std::string> split_layers(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    if (ch == ';' || ch == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream is(line);
  std::vector<std::string> w;
  for (std::string s; is >> s;) {
    if (s[0] == '#') break;
    w.push_back(s);
  }
  return w;
}

constexpr const char* kGrammar =
    "accepted layers: 'conv IN->OUT kK sS pP [dD] [gG] [bias]', 'convT IN->OUT kK sS pP [opP] [dD] [gG] [bias]', "
    "'bn [C]', 'relu', 'lrelu [slope]', 'tanh', 'sigmoid', 'flatten', 'linear IN->OUT [bias]'";

}  // namespace

std::shared_ptr<nn::Sequential> parse_architecture(const std::string& text, const std::string& name) {
  auto seq = std::make_shared<nn::Sequential>();
  std::int64_t last_channels = -1;
  int line_no = 0;
  for (const std::string& line : split_layers(text)) {
    ++line_no;
    const auto w = words(line);
    if (w.empty()) continue;
    auto fail = [&](const std::string& why) {
      STRIDER_THROW(ValueError, name << " architecture, layer " << line_no << " '" << line << "': " << why << "; "
                                     << kGrammar);
    };
    auto parse_int = [&](const std::string& s, const std::string& what) -> std::int64_t {
      try {
        size_t used = 0;
        const long long v = std::stoll(s, &used);
        if (used != s.size()) fail("'" + s + "' is not a number for " + what);
        return v;
      } catch (const std::logic_error&) {
        fail("'" + s + "' is not a number for " + what);
      }
      return 0;
    };
    auto parse_io = [&](const std::string& s, std::int64_t& in, std::int64_t& out) {
      const auto arrow = s.find("->");
      if (arrow == std::string::npos) fail("expected IN->OUT channels, got '" + s + "'");
      in = parse_int(s.substr(0, arrow), "input channels");
      out = parse_int(s.substr(arrow + 2), "output channels");
    };
    const std::string& kind = w[0];
    if (kind == "conv" || kind == "convT") {
      if (w.size() < 2) fail("missing IN->OUT");
      std::int64_t in = 0, out = 0;
      parse_io(w[1], in, out);
      int k = -1, s = 1, p = 0, d = 1, g = 1, op = 0;
      bool bias = false;
      for (size_t i = 2; i < w.size(); ++i) {
        const std::string& t = w[i];
        if (t == "bias") bias = true;
        else if (t.rfind("op", 0) == 0) op = static_cast<int>(parse_int(t.substr(2), "output_padding"));
        else if (t[0] == 'k') k = static_cast<int>(parse_int(t.substr(1), "kernel"));
        else if (t[0] == 's') s = static_cast<int>(parse_int(t.substr(1), "stride"));
        else if (t[0] == 'p') p = static_cast<int>(parse_int(t.substr(1), "padding"));
        else if (t[0] == 'd') d = static_cast<int>(parse_int(t.substr(1), "dilation"));
        else if (t[0] == 'g') g = static_cast<int>(parse_int(t.substr(1), "groups"));
        else fail("unknown option '" + t + "'");
      }
      if (k < 0) fail("missing the kernel size (e.g. k4)");
      if (kind == "conv") {
        if (op != 0) fail("output padding (op) applies to convT only");
        seq->append(std::make_shared<nn::Conv2d>(
            nn::Conv2dOptions(in, out, k).stride(s).padding(p).dilation(d).groups(g).bias(bias)));
      } else {
        seq->append(std::make_shared<nn::ConvTranspose2d>(
            nn::ConvTranspose2dOptions(in, out, k).stride(s).padding(p).dilation(d).groups(g).bias(bias).output_padding(op)));
      }
      last_channels = out;
    } else if (kind == "bn") {
      std::int64_t c = last_channels;
      if (w.size() >= 2) c = parse_int(w[1], "channels");
      if (c < 1) fail("bn needs a channel count (e.g. 'bn 128') when no conv comes before it");
      if (w.size() > 2) fail("unexpected '" + w[2] + "'");
      seq->append(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(c)));
    } else if (kind == "relu" || kind == "tanh" || kind == "sigmoid" || kind == "flatten") {
      if (w.size() > 1) fail("unexpected '" + w[1] + "'");
      if (kind == "relu") seq->append(std::make_shared<nn::ReLU>());
      else if (kind == "tanh") seq->append(std::make_shared<nn::Tanh>());
      else if (kind == "sigmoid") seq->append(std::make_shared<nn::Sigmoid>());
      else seq->append(std::make_shared<nn::Flatten>());
    } else if (kind == "lrelu") {
      double slope = 0.2;
      if (w.size() >= 2) {
        try {
          slope = std::stod(w[1]);
        } catch (const std::logic_error&) {
          fail("'" + w[1] + "' is not a slope");
        }
      }
      seq->append(std::make_shared<nn::LeakyReLU>(slope));
    } else if (kind == "linear") {
      if (w.size() < 2) fail("missing IN->OUT");
      std::int64_t in = 0, out = 0;
      parse_io(w[1], in, out);
      const bool bias = w.size() > 2 && w[2] == "bias";
      seq->append(std::make_shared<nn::Linear>(nn::LinearOptions(in, out).bias(bias)));
      last_channels = out;
    } else {
      fail("unknown layer '" + kind + "'");
    }
  }
  STRIDER_CHECK(!seq->empty(), ValueError, name << " architecture is empty; " << kGrammar);
  seq->set_name(name);
  return seq;
}

std::string describe(const DcganConfig& c) {
  std::ostringstream os;
  os << "DCGAN " << c.image_size << "x" << c.image_size << "x" << c.nc << ", nz " << c.nz << ", ngf " << c.ngf << ", ndf "
     << c.ndf;
  if (!c.generator_text.empty()) os << ", custom generator";
  if (!c.discriminator_text.empty()) os << ", custom discriminator";
  return os.str();
}

}  // namespace strider::models
