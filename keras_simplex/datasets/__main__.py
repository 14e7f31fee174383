import sys

from keras_simplex.datasets.build import main

sys.exit(main())
