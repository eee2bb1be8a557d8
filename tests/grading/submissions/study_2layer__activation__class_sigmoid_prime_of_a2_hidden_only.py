"""004 Neural_Network 클래스: 출력층은 sigmoid_prime(z3) 로 맞게 했는데 은닉층에는 a2 를 넣음.

The notebook's ``sigmoid_prime(z) = exp(-z) / (1 + exp(-z))**2`` applied to
the hidden activation ``a2`` instead of ``z2``, in the hidden layer only
(the output layer's delta is right): W2 is correct, W1 is not, and the
diagnosis must still name the slip (it used to say only "wrong", because
the known mistake replaced the derivative in every sigmoid layer at once).
"""
import numpy as np


class Neural_Network(object):
    def __init__(self, input_layer_size, output_layer_size, hidden_layer_size):
        self.input_layer_size = input_layer_size
        self.output_layer_size = output_layer_size
        self.hidden_layer_size = hidden_layer_size
        self.W1 = np.random.randn(self.input_layer_size, self.hidden_layer_size)
        self.W2 = np.random.randn(self.hidden_layer_size, self.output_layer_size)

    def forward(self, X):
        self.z2 = np.dot(X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        y_hat = self.sigmoid(self.z3)
        return y_hat

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoid_prime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def cost_function(self, X, y):
        self.y_hat = self.forward(X)
        return 0.5 * np.sum((y - self.y_hat) ** 2)

    def cost_function_prime(self, X, y):
        self.y_hat = self.forward(X)
        delta3 = np.multiply(-(y - self.y_hat), self.sigmoid_prime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoid_prime(self.a2)  # a2 가 아니라 z2 여야 함
        dJdW1 = np.dot(X.T, delta2)
        return dJdW1, dJdW2


x = np.array(([3, 5], [5, 1], [10, 2]), dtype=float)
y = np.array(([75], [82], [93]), dtype=float) / 100
NN = Neural_Network(2, 1, 3)
cost1 = NN.cost_function(x, y)
dJdW1, dJdW2 = NN.cost_function_prime(x, y)
print(cost1, dJdW1, dJdW2)
