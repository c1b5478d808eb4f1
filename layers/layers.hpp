// strider/layers: Module and the layers, losses, initialisers, optimizers, shape planning and the
// diagnostics that explain shape errors. Included by <strider/strider.hpp>.
#pragma once

#include <strider/core/autograd.hpp>
#include <strider/core/nn.hpp>
#include <strider/layers/activation.hpp>
#include <strider/layers/batchnorm.hpp>
#include <strider/layers/conv.hpp>
#include <strider/layers/diagnose.hpp>
#include <strider/layers/init.hpp>
#include <strider/layers/linear.hpp>
#include <strider/layers/loss.hpp>
#include <strider/layers/module.hpp>
#include <strider/layers/optim.hpp>
#include <strider/layers/plan.hpp>
#include <strider/layers/sequential.hpp>
#include <strider/layers/solve.hpp>
#include <strider/layers/spec.hpp>
