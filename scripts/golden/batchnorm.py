"""Golden values of BatchNorm2d, BatchNorm1d and a residual block from
PyTorch, printed as Rust constants pasted into tests/batchnorm_golden.rs.

BatchNorm2d(3) on B = 2, 3 x 4 x 5, and BatchNorm1d(2) on B = 3, 2 x 6:
x = sin(0.7 b + 1.3 c + 0.37 i + 0.11 j) * 3 + c, dy = cos(0.5 b + 0.9 c +
0.23 i + 0.31 j), weight = 1 + 0.25 c, bias = 0.5 - 0.2 c. One training
forward and backward (y, dx, dweight, dbias), the running statistics after
it, then an eval forward of the same x (y_eval).

The block: torchvision's BasicBlock(2 -> 3, stride 2) with
downsample = Sequential(Conv2d(2, 3, 1, stride 2, bias=False),
BatchNorm2d(3)), on B = 2, 2 x 6 x 6, in training mode, without the ReLU
after the add (constnet runs it as the next layer). Conv weights
w.flatten()[k] = sin(0.3 k + s) * 0.5 (s = 0, 1, 2 for conv1, conv2 and
the projection); batch norms at PyTorch's initial state. y, dx and the
gradients of conv1, conv2 and the projection's weight.

    python3 scripts/golden/batchnorm.py
"""
import torch

torch.set_printoptions(precision=10)


def grid(*dims):
    return torch.meshgrid(*[torch.arange(d) for d in dims], indexing="ij")


def rust(name, t):
    vals = ", ".join(f"{v:.9e}" for v in t.detach().flatten().tolist())
    print(f"const {name}: [f32; {t.numel()}] = [{vals}];")


def bn_case(prefix, bn, shape):
    idx = grid(*shape)
    b, c = idx[0], idx[1]
    i = idx[2] if len(shape) > 2 else torch.zeros_like(b)
    j = idx[3] if len(shape) > 3 else (idx[2] if len(shape) == 3 else torch.zeros_like(b))
    if len(shape) == 3:
        i = torch.zeros_like(b)
    x = (torch.sin(0.7 * b + 1.3 * c + 0.37 * i + 0.11 * j) * 3 + c).float().requires_grad_()
    dy = torch.cos(0.5 * b + 0.9 * c + 0.23 * i + 0.31 * j).float()
    C = shape[1]
    with torch.no_grad():
        bn.weight.copy_(1 + 0.25 * torch.arange(C))
        bn.bias.copy_(0.5 - 0.2 * torch.arange(C))
    bn.train()
    y = bn(x)
    y.backward(dy)
    rust(f"{prefix}_Y", y)
    rust(f"{prefix}_DX", x.grad)
    rust(f"{prefix}_DW", bn.weight.grad)
    rust(f"{prefix}_DB", bn.bias.grad)
    rust(f"{prefix}_RUNNING_MEAN", bn.running_mean)
    rust(f"{prefix}_RUNNING_VAR", bn.running_var)
    print(f"// {prefix} num_batches_tracked = {int(bn.num_batches_tracked)}")
    bn.eval()
    rust(f"{prefix}_Y_EVAL", bn(x))


print(f"// torch {torch.__version__}")
bn_case("BN2D", torch.nn.BatchNorm2d(3), (2, 3, 4, 5))
bn_case("BN1D", torch.nn.BatchNorm1d(2), (3, 2, 6))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(3)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(3, 3, 3, stride=1, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(3)
        self.downsample = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 1, stride=2, bias=False), torch.nn.BatchNorm2d(3))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return out + self.downsample(x)


blk = Block()
with torch.no_grad():
    for s, conv in enumerate([blk.conv1, blk.conv2, blk.downsample[0]]):
        k = torch.arange(conv.weight.numel()).float()
        conv.weight.copy_((torch.sin(0.3 * k + s) * 0.5).reshape(conv.weight.shape))
b, c, i, j = grid(2, 2, 6, 6)
x = (torch.sin(0.7 * b + 1.3 * c + 0.37 * i + 0.11 * j) * 3).float().requires_grad_()
y = blk(x)
bb, cc, ii, jj = grid(2, 3, 3, 3)
dy = torch.cos(0.5 * bb + 0.9 * cc + 0.23 * ii + 0.31 * jj).float()
y.backward(dy)
rust("BLOCK_Y", y)
rust("BLOCK_DX", x.grad)
rust("BLOCK_DW1", blk.conv1.weight.grad)
rust("BLOCK_DW2", blk.conv2.weight.grad)
rust("BLOCK_DWD", blk.downsample[0].weight.grad)
